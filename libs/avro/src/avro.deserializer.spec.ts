import { Type } from 'avsc';
import { AvroCodec, subjectFor } from './avro-codec';
import { AvroDeserializer, RawKafkaMessage } from './avro.deserializer';
import { InvalidWireFormatError, RegistryUnavailableError, UnknownSchemaIdError } from './codec.errors';
import { RawText, RecordKind } from './records';
import { readSchemaFile } from './schema-files';
import { SchemaRegistryAdapter } from './schema-registry.adapter';

type RegistryPart = Pick<SchemaRegistryAdapter, 'setCompatibility' | 'isCompatible' | 'register' | 'getType'>;

const TOPICS = { raw: 'raw', tokenized: 'tokenized', prediction: 'predictions' };
const IDS: Record<RecordKind, number> = { raw: 1, tokenized: 2, prediction: 3 };

function stubRegistry() {
  const types = new Map<number, Type>(
    (Object.keys(IDS) as RecordKind[]).map((kind) => [IDS[kind], Type.forSchema(JSON.parse(readSchemaFile(kind)))]),
  );
  const ids: Record<string, number> = Object.fromEntries(
    (Object.keys(IDS) as RecordKind[]).map((kind) => [subjectFor(TOPICS[kind]), IDS[kind]]),
  );
  return {
    setCompatibility: jest.fn(async () => undefined),
    isCompatible: jest.fn(async () => true),
    register: jest.fn(async (subject: string) => ids[subject]),
    getType: jest.fn<Promise<Type>, [number]>(async (schemaId) => {
      const type = types.get(schemaId);
      if (!type) throw new UnknownSchemaIdError(schemaId);
      return type;
    }),
  } satisfies RegistryPart;
}

const RECORD: RawText = {
  id: 'req-7',
  text: 'hello',
  createdAt: 1_700_000_000_000,
  source: null,
  metadata: { a: 'b' },
};
const unavailable = () => new RegistryUnavailableError('schema registry unavailable: connect ECONNREFUSED');

async function setup() {
  const registry = stubRegistry();
  const codec = new AvroCodec(registry as unknown as SchemaRegistryAdapter, TOPICS);
  await codec.registerAll();
  const deserializer = new AvroDeserializer(codec, 'raw');
  const message = (over: Partial<RawKafkaMessage> = {}): RawKafkaMessage => ({
    topic: 'raw',
    partition: 2,
    offset: '41',
    key: Buffer.from(RECORD.id),
    value: codec.encode('raw', RECORD),
    headers: { trace: Buffer.from('t-1') },
    ...over,
  });
  return { registry, codec, deserializer, message };
}

describe('AvroDeserializer.decode', () => {
  it('decodes a good record and keeps the Kafka coordinates', async () => {
    const { deserializer, message } = await setup();
    const inbound = await deserializer.decode(message());
    expect(inbound.decoded).toEqual({ ok: true, record: RECORD });
    expect(inbound).toMatchObject({ topic: 'raw', partition: 2, offset: '41' });
    expect(inbound.headers.trace?.toString()).toBe('t-1');
  });

  it('wraps the result as a Nest event on its pattern', async () => {
    const { codec, message } = await setup();
    const event = await new AvroDeserializer(codec, 'raw', 'raw-texts').deserialize(message());
    expect(event.pattern).toBe('raw-texts');
    expect(event.data.decoded.ok).toBe(true);
  });

  it.each([
    ['garbage', Buffer.from('not avro at all')],
    ['a short value', Buffer.from([0, 0])],
    ['a null value', null],
    ['a string value', 'plain text'],
  ])('never throws: %s becomes decoded.ok === false with the typed error', async (_name, value) => {
    const { deserializer, message } = await setup();
    const inbound = await deserializer.decode(message({ value }));
    expect(inbound.decoded.ok).toBe(false);
    if (!inbound.decoded.ok) expect(inbound.decoded.error).toBeInstanceOf(InvalidWireFormatError);
  });

  it('never throws when the registry is down', async () => {
    const { deserializer, message, registry } = await setup();
    registry.getType.mockRejectedValueOnce(unavailable());
    const inbound = await deserializer.decode(message());
    expect(inbound.decoded.ok).toBe(false);
    if (!inbound.decoded.ok) expect(inbound.decoded.error).toBeInstanceOf(RegistryUnavailableError);
  });

  it('keeps the original key bytes from rawKey, even when they are not UTF-8', async () => {
    const { deserializer, message } = await setup();
    const rawKey = Buffer.from([0xff, 0xfe, 0x00, 0x80]);
    const inbound = await deserializer.decode(message({ key: rawKey.toString(), value: Buffer.from('bad'), rawKey }));
    expect(inbound.key).not.toBeNull();
    expect(inbound.key!.equals(rawKey)).toBe(true);
    expect(inbound.value!.toString()).toBe('bad');
  });

  it('keeps a null rawKey as null', async () => {
    const { deserializer, message } = await setup();
    const inbound = await deserializer.decode(message({ key: '', rawKey: null }));
    expect(inbound.key).toBeNull();
  });

  it('turns a string key into bytes when no rawKey travels with it', async () => {
    const { deserializer, message } = await setup();
    const inbound = await deserializer.decode(message({ key: 'req-7' }));
    expect(inbound.key!.equals(Buffer.from('req-7'))).toBe(true);
    expect(inbound.headers).toBeDefined();
  });

  it('defaults missing headers to an empty object', async () => {
    const { deserializer, message } = await setup();
    const inbound = await deserializer.decode(message({ headers: undefined }));
    expect(inbound.headers).toEqual({});
  });
});

describe('AvroDeserializer.decodeWithRetries', () => {
  const policy = { maxRetries: 3, backoffMs: 0 };

  it('returns an already decoded record without decoding again', async () => {
    const { deserializer, message, registry } = await setup();
    const inbound = await deserializer.decode(message());
    registry.getType.mockClear();
    await expect(deserializer.decodeWithRetries(inbound, policy)).resolves.toEqual(RECORD);
    expect(registry.getType).not.toHaveBeenCalled();
  });

  it('retries a transient failure and returns the record once the registry recovers', async () => {
    const { deserializer, message, registry } = await setup();
    registry.getType.mockRejectedValueOnce(unavailable()).mockRejectedValueOnce(unavailable());
    const inbound = await deserializer.decode(message());
    expect(inbound.decoded.ok).toBe(false);
    await expect(deserializer.decodeWithRetries(inbound, policy)).resolves.toEqual(RECORD);
    // the first decode, one failed retry, one successful retry
    expect(registry.getType).toHaveBeenCalledTimes(3);
  });

  it('gives up after maxRetries transient failures and throws the last one', async () => {
    const { deserializer, message, registry } = await setup();
    registry.getType.mockRejectedValue(unavailable());
    const inbound = await deserializer.decode(message());
    await expect(deserializer.decodeWithRetries(inbound, { maxRetries: 2, backoffMs: 0 })).rejects.toThrow(
      RegistryUnavailableError,
    );
    // the first decode plus exactly 2 retries
    expect(registry.getType).toHaveBeenCalledTimes(3);
  });

  it('does not retry a permanent failure', async () => {
    const { deserializer, message, registry } = await setup();
    const bytes = message().value as Buffer;
    const unknownId = Buffer.from(bytes);
    unknownId.writeUInt32BE(77, 1);
    const inbound = await deserializer.decode(message({ value: unknownId }));
    await expect(deserializer.decodeWithRetries(inbound, policy)).rejects.toThrow(UnknownSchemaIdError);
    expect(registry.getType).toHaveBeenCalledTimes(1);
  });

  it('does not retry a plain (non-codec) error', async () => {
    const { deserializer, message, registry } = await setup();
    const inbound = await deserializer.decode(message());
    const failed = { ...inbound, decoded: { ok: false as const, error: new Error('boom') } };
    registry.getType.mockClear();
    await expect(deserializer.decodeWithRetries(failed, policy)).rejects.toThrow('boom');
    expect(registry.getType).not.toHaveBeenCalled();
  });
});
