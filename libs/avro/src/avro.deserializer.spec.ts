import { stubRegistry, TEST_TOPICS } from '@app/testing';
import { AvroCodec } from './avro-codec';
import { AvroDeserializer, RawKafkaMessage } from './avro.deserializer';
import { InvalidWireFormatError, RegistryUnavailableError } from './codec.errors';
import { RawText } from './records';
import { SchemaRegistryAdapter } from './schema-registry.adapter';

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
  const codec = new AvroCodec(registry as unknown as SchemaRegistryAdapter, TEST_TOPICS);
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

  it('keeps binary key bytes unchanged, even when they are not UTF-8', async () => {
    const { deserializer, message } = await setup();
    const key = Buffer.from([0xff, 0xfe, 0x00, 0x80]);
    const inbound = await deserializer.decode(message({ key, value: Buffer.from('bad') }));
    expect(inbound.key!.equals(key)).toBe(true);
    expect(inbound.value!.toString()).toBe('bad');
  });

  it('keeps a null key as null', async () => {
    const { deserializer, message } = await setup();
    const inbound = await deserializer.decode(message({ key: null }));
    expect(inbound.key).toBeNull();
  });

  it('turns a string key into bytes', async () => {
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
