import { RecordSigner, SIGNATURE_HEADER } from './record-signature';

describe('RecordSigner', () => {
  const signer = new RecordSigner('k'.repeat(32));
  const value = Buffer.from([0, 0, 0, 0, 1, 2, 3]);

  it('verifies its own signature', () => {
    expect(SIGNATURE_HEADER).toBe('signature');
    expect(signer.verify('id-1', value, signer.sign('id-1', value))).toBe(true);
    expect(signer.verify(Buffer.from('id-1'), value, Buffer.from(signer.sign('id-1', value)))).toBe(true);
  });

  it('refuses another key, another id, altered bytes, a missing or malformed header', () => {
    const good = signer.sign('id-1', value);
    expect(new RecordSigner('x'.repeat(32)).verify('id-1', value, good)).toBe(false);
    expect(signer.verify('id-2', value, good)).toBe(false);
    expect(signer.verify('id-1', Buffer.from([0, 0, 0, 0, 1, 2, 4]), good)).toBe(false);
    expect(signer.verify('id-1', value, undefined)).toBe(false);
    expect(signer.verify('id-1', value, 'v1=zz')).toBe(false);
    expect(signer.verify(null, value, good)).toBe(false);
  });

  it('binds the key length, so a byte moved from key to value breaks it', () => {
    const sig = signer.sign('ab', Buffer.from('c'));
    expect(signer.verify('a', Buffer.from('bc'), sig)).toBe(false);
  });
});
