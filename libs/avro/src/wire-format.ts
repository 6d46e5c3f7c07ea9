import { InvalidWireFormatError } from './codec.errors';

// Confluent wire format: byte 0 = magic 0, bytes 1-4 = big-endian schema id, then Avro binary.
export const MAGIC_BYTE = 0;
export const HEADER_LENGTH = 5;

export function frame(schemaId: number, body: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt8(MAGIC_BYTE, 0);
  header.writeUInt32BE(schemaId, 1);
  return Buffer.concat([header, body]);
}

export function unframe(value: Buffer | null | undefined): { schemaId: number; body: Buffer } {
  if (!value || value.length < HEADER_LENGTH) {
    throw new InvalidWireFormatError(`value is ${value?.length ?? 0} bytes, shorter than the 5-byte Confluent header`);
  }
  if (value[0] !== MAGIC_BYTE) {
    throw new InvalidWireFormatError(`magic byte is ${value[0]}, expected 0 (Confluent wire format)`);
  }
  return { schemaId: value.readUInt32BE(1), body: value.subarray(HEADER_LENGTH) };
}
