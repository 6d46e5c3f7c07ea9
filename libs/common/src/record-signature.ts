import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header that carries a record's signature: `v1=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = 'signature';

const VERSION = 'v1';

/**
 * HMAC-SHA256 over a record's key and value bytes under a key shared by the writer (inference) and
 * the reader (gateway). A record forged, or altered, by any other Kafka client fails `verify`.
 * Headers are not covered: nothing the gateway answers comes from them.
 */
export class RecordSigner {
  private readonly key: Buffer;

  constructor(key: string | Buffer) {
    this.key = Buffer.from(key);
  }

  sign(recordKey: string | Buffer, value: Buffer): string {
    return `${VERSION}=${this.mac(recordKey, value).toString('hex')}`;
  }

  verify(recordKey: string | Buffer | null | undefined, value: Buffer | null, header: unknown): boolean {
    if (recordKey == null || value == null) return false;
    const text: unknown = Array.isArray(header) ? (header as unknown[])[0] : header;
    if (typeof text !== 'string' && !Buffer.isBuffer(text)) return false;
    const match = /^v1=([0-9a-f]{64})$/.exec(text.toString());
    if (!match) return false;
    return timingSafeEqual(Buffer.from(match[1], 'hex'), this.mac(recordKey, value));
  }

  private mac(recordKey: string | Buffer, value: Buffer): Buffer {
    const key = Buffer.from(recordKey);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(key.length);
    // Length-prefixed key, so that (key, value) pairs cannot be re-split into another valid pair.
    return createHmac('sha256', this.key).update(VERSION).update(length).update(key).update(value).digest();
  }
}
