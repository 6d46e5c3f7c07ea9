import { InvalidWireFormatError } from './codec.errors';
import { frame, HEADER_LENGTH, MAGIC_BYTE, unframe } from './wire-format';

describe('Confluent wire format', () => {
  it('frames a body behind magic 0 and the big-endian schema id', () => {
    const framed = frame(0x01020304, Buffer.from([0xaa, 0xbb]));
    expect([...framed]).toEqual([MAGIC_BYTE, 0x01, 0x02, 0x03, 0x04, 0xaa, 0xbb]);
    expect(HEADER_LENGTH).toBe(5);
  });

  it('writes schema ids above 2^31 unsigned', () => {
    const framed = frame(0xfffffffe, Buffer.alloc(0));
    expect([...framed]).toEqual([0, 0xff, 0xff, 0xff, 0xfe]);
    expect(unframe(framed).schemaId).toBe(0xfffffffe);
  });

  it('unframes back to the schema id and the exact body bytes', () => {
    const body = Buffer.from([0x00, 0x01, 0xff]);
    const { schemaId, body: out } = unframe(frame(258, body));
    expect(schemaId).toBe(258);
    expect(out.equals(body)).toBe(true);
  });

  it('accepts a header with an empty body', () => {
    const { schemaId, body } = unframe(Buffer.from([0, 0, 0, 0, 7]));
    expect(schemaId).toBe(7);
    expect(body.length).toBe(0);
  });

  it.each([
    ['null', null, /0 bytes/],
    ['undefined', undefined, /0 bytes/],
    ['an empty buffer', Buffer.alloc(0), /0 bytes/],
    ['a 4-byte buffer', Buffer.from([0, 0, 0, 1]), /4 bytes, shorter than the 5-byte/],
  ])('refuses %s as too short', (_name, value, message) => {
    expect(() => unframe(value)).toThrow(InvalidWireFormatError);
    expect(() => unframe(value)).toThrow(message);
  });

  it('refuses a magic byte other than 0 and names it', () => {
    const value = Buffer.from([1, 0, 0, 0, 1, 0x02]);
    expect(() => unframe(value)).toThrow(InvalidWireFormatError);
    expect(() => unframe(value)).toThrow('magic byte is 1, expected 0');
  });

  it('marks wire format errors as permanent', () => {
    try {
      unframe(Buffer.from('{"json":true}'));
      throw new Error('unframe accepted JSON');
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidWireFormatError);
      expect((error as InvalidWireFormatError).transient).toBe(false);
      expect((error as InvalidWireFormatError).name).toBe('InvalidWireFormatError');
    }
  });
});
