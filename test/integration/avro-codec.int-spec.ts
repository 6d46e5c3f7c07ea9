import { Type } from 'avsc';
import { Consumer, Kafka, Partitioners, Producer } from 'kafkajs';
import {
  AvroCodec,
  AvroDecodeError,
  IncompatibleRecordError,
  InvalidWireFormatError,
  RawText,
  readSchemaFile,
  SchemaIncompatibleError,
  SchemaRegistryAdapter,
  subjectFor,
  UnknownSchemaIdError,
} from '@app/avro';
import { createKafka } from '@app/kafka';
import { uniqueName, waitFor } from '@app/testing';
import { BROKERS, REGISTRY_URL } from '../support/infra-env';

describe('Avro codec against the real Kafka and schema registry', () => {
  const topics = { raw: uniqueName('raw'), tokenized: uniqueName('tokenized'), prediction: uniqueName('predictions') };
  const registry = new SchemaRegistryAdapter(REGISTRY_URL);
  const codec = new AvroCodec(registry, topics);
  let kafka: Kafka;
  let producer: Producer;
  let consumer: Consumer;

  beforeAll(async () => {
    kafka = createKafka(BROKERS, 'avro-codec-int');
    producer = kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
  });

  afterEach(async () => {
    await consumer?.disconnect();
  });

  afterAll(async () => {
    await producer.disconnect();
  });

  it('registers the three schemas under <topic>-value with BACKWARD compatibility', async () => {
    const ids = await codec.registerAll();
    expect(Object.values(ids).every((id) => Number.isInteger(id) && id > 0)).toBe(true);
    const subjects = await registry.listSubjects();
    for (const topic of Object.values(topics)) {
      expect(subjects).toContain(subjectFor(topic));
      expect((await registry.getCompatibility(subjectFor(topic)))?.toUpperCase()).toBe('BACKWARD');
    }
    // Registering again is idempotent: same ids.
    expect(await codec.registerAll()).toEqual(ids);
  });

  it('round-trips a record through a real topic, decoded by the codec and by hand', async () => {
    await codec.registerAll();
    const record: RawText = {
      id: 'req-1',
      text: 'Ünïcødé text 这是一个政治新闻。',
      createdAt: 1_764_000_000_123,
      source: 'int-test',
      metadata: { tenant: 'acme' },
    };
    const value = codec.encode('raw', record);
    await producer.send({ topic: topics.raw, messages: [{ key: record.id, value }], acks: -1 });

    consumer = kafka.consumer({ groupId: uniqueName('group') });
    await consumer.connect();
    await consumer.subscribe({ topic: topics.raw, fromBeginning: true });
    const received: { key: string; value: Buffer }[] = [];
    await consumer.run({
      eachMessage: async ({ message }) => {
        received.push({ key: message.key!.toString(), value: message.value! });
      },
    });
    await waitFor(() => received.length === 1, { description: 'the produced record' });

    expect(received[0].key).toBe('req-1');
    expect(await codec.decode('raw', received[0].value)).toEqual(record);

    // By hand: magic byte, big-endian schema id, then the Avro body decoded with the schema
    // that the registry's REST API returns for that id.
    const bytes = received[0].value;
    expect(bytes[0]).toBe(0);
    const schemaId = bytes.readUInt32BE(1);
    expect(schemaId).toBe(codec.schemaId('raw'));
    const response = await fetch(`${REGISTRY_URL}/schemas/ids/${schemaId}`);
    expect(response.status).toBe(200);
    const { schema } = (await response.json()) as { schema: string };
    const type = Type.forSchema(JSON.parse(schema));
    expect(type.fromBuffer(bytes.subarray(5))).toEqual(record);
  });

  it('gives typed errors for bytes that are not a valid record', async () => {
    await codec.registerAll();
    const good = codec.encode('raw', { id: 'x', text: 't', createdAt: 1, source: null, metadata: {} });

    await expect(codec.decode('raw', Buffer.from('plain text, not avro'))).rejects.toBeInstanceOf(
      InvalidWireFormatError,
    );
    await expect(codec.decode('raw', Buffer.from([0, 0]))).rejects.toBeInstanceOf(InvalidWireFormatError);
    await expect(codec.decode('raw', null)).rejects.toBeInstanceOf(InvalidWireFormatError);

    const unknownId = Buffer.from(good);
    unknownId.writeUInt32BE(2_000_000_000, 1);
    await expect(codec.decode('raw', unknownId)).rejects.toBeInstanceOf(UnknownSchemaIdError);

    const truncated = good.subarray(0, good.length - 3);
    await expect(codec.decode('raw', truncated)).rejects.toBeInstanceOf(AvroDecodeError);
    const garbage = Buffer.concat([good.subarray(0, 5), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])]);
    await expect(codec.decode('raw', garbage)).rejects.toBeInstanceOf(AvroDecodeError);

    // A valid record of another shape (a prediction read as raw) is refused by schema resolution.
    const prediction = codec.encode('prediction', {
      id: 'p',
      label: 'ham',
      score: 0.9,
      scores: { ham: 0.9, spam: 0.1 },
      model: 'm',
      modelVersion: '1',
      createdAt: 1,
      tokenizedAt: 2,
      predictedAt: 3,
      batchSize: 1,
      truncated: false,
      source: null,
      metadata: {},
    });
    await expect(codec.decode('raw', prediction)).rejects.toBeInstanceOf(IncompatibleRecordError);
  });

  it('the registry refuses a change that breaks BACKWARD compatibility, and accepts one that keeps it', async () => {
    await codec.registerAll();
    const subject = subjectFor(topics.raw);
    const current = JSON.parse(readSchemaFile('raw'));

    // A new required field without a default: old records cannot be read with it.
    const breaking = { ...current, fields: [...current.fields, { name: 'language', type: 'string' }] };
    expect(await registry.isCompatible(subject, JSON.stringify(breaking))).toBe(false);
    await expect(registry.register(subject, JSON.stringify(breaking), 'BACKWARD')).rejects.toBeInstanceOf(
      SchemaIncompatibleError,
    );

    // The same field with a default is a legal evolution.
    const evolved = {
      ...current,
      fields: [...current.fields, { name: 'language', type: ['null', 'string'], default: null }],
    };
    expect(await registry.isCompatible(subject, JSON.stringify(evolved))).toBe(true);
    const newId = await registry.register(subject, JSON.stringify(evolved), 'BACKWARD');
    expect(newId).not.toBe(codec.schemaId('raw'));

    // Records written with the new schema are still readable by this (older) reader.
    const writer = Type.forSchema(evolved);
    const body = writer.toBuffer({
      id: 'e',
      text: 'evolved',
      createdAt: 5,
      source: null,
      metadata: {},
      language: 'en',
    });
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body]);
    framed.writeUInt32BE(newId, 1);
    expect(await codec.decode('raw', framed)).toEqual({
      id: 'e',
      text: 'evolved',
      createdAt: 5,
      source: null,
      metadata: {},
    });
  });
});
