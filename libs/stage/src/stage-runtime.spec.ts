import { Logger } from '@nestjs/common';
import { AvroCodec, RawText, SchemaRegistration, TokenizedText } from '@app/avro';
import { loadPreprocessorConfig } from '@app/config';
import type { KafkaConnection } from '@app/kafka';
import { MetricsService } from '@app/observability';
import {
  FakeClock,
  fakeKafka,
  FakeProducer,
  kafkaMessage,
  rawText,
  registeredCodec,
  TEST_TOPICS,
  tokenizedText,
} from '@app/testing';
import type { EachBatchPayload } from 'kafkajs';
import { StageRuntime } from './stage-runtime';
import type { RecordHandler, StageOptions } from './stage.types';

const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

class Upper implements RecordHandler<'raw', 'tokenized'> {
  readonly mode = 'record';
  handle(raw: RawText): TokenizedText {
    if (raw.text === 'bad') throw new Error('cannot handle');
    return tokenizedText({ id: raw.id });
  }
}

async function setup(env: Record<string, string> = {}) {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  const { codec } = await registeredCodec();
  const { kafka, consumers } = fakeKafka();
  const producer = new FakeProducer();
  const config = loadPreprocessorConfig({ TOPIC_RAW: TEST_TOPICS.raw, TOPIC_TOKENIZED: TEST_TOPICS.tokenized, ...env });
  const options: StageOptions<'raw', 'tokenized'> = {
    name: 'preprocessor',
    input: 'raw',
    output: 'tokenized',
    inputTopic: (c) => c.topics.raw,
    outputTopic: (c) => c.topics.tokenized,
    handler: Upper,
  };
  const runtime = new StageRuntime(
    options,
    new Upper(),
    config,
    kafka,
    new FakeClock(),
    codec,
    producer.asAdapter(),
    { isReady: true, whenReady: async () => undefined } as unknown as KafkaConnection,
    { isRegistered: true, whenRegistered: async () => undefined } as unknown as SchemaRegistration,
    new MetricsService(),
  );
  const checks = async () =>
    Object.fromEntries(await Promise.all(runtime.readinessChecks().map(async (c) => [c.name, await c.check()])));
  return { runtime, consumers, producer, codec, checks };
}

function batchOf(codec: AvroCodec, records: (RawText | Buffer)[], partition = 0) {
  const messages = records.map((r, i) =>
    Buffer.isBuffer(r)
      ? kafkaMessage(r, { offset: i })
      : kafkaMessage(codec.encode('raw', r), { key: r.id, offset: i }),
  );
  return {
    batch: { topic: 'raw', partition, messages, lastOffset: () => String(messages.length - 1) },
    resolveOffset: jest.fn(),
    isStale: () => false,
    heartbeat: async () => undefined,
  } as unknown as EachBatchPayload;
}

describe('StageRuntime', () => {
  afterEach(() => jest.restoreAllMocks());

  it('is ready only once its consumer joined and a broker answers, and not while draining', async () => {
    const { runtime, consumers, checks } = await setup();
    expect(await checks()).toEqual({ kafka: false, schemas: true, consumer: false, accepting: true });
    runtime.onApplicationBootstrap();
    await flush();
    consumers[0].emit('group_join', { memberAssignment: { raw: [0] } });
    expect(await checks()).toEqual({ kafka: true, schemas: true, consumer: true, accepting: true });
    runtime.onModuleDestroy();
    expect((await checks()).accepting).toBe(false);
    await runtime.beforeApplicationShutdown();
    expect(consumers[0].disconnect).toHaveBeenCalled();
  });

  it('decodes, handles, produces and commits; what cannot be decoded or handled goes to the DLQ', async () => {
    const { runtime, consumers, producer, codec } = await setup();
    runtime.onApplicationBootstrap();
    await flush();
    const consumer = consumers[0];
    consumer.emit('group_join', { memberAssignment: { raw: [0] } });
    const good = rawText();
    const bad = rawText({ text: 'bad' });
    await consumer.runConfig!.eachBatch!(batchOf(codec, [good, Buffer.from('not avro'), bad]));
    await flush();
    expect(producer.messages('tokenized').map((m) => String(m.key))).toEqual([good.id]);
    const dlq = producer.messages('raw.dlq');
    expect(dlq.map((m) => String(m.headers!['dlq.error.class']))).toEqual(['InvalidWireFormatError', 'Error']);
    expect(consumer.consumer.commitOffsets).toHaveBeenLastCalledWith([{ topic: 'raw', partition: 0, offset: '3' }]);
    await runtime.beforeApplicationShutdown();
  });

  it('keeps COMMIT_INTERVAL_MS between two commits at least once too, and a drain commits at once', async () => {
    const { runtime, consumers, producer, codec } = await setup({ COMMIT_INTERVAL_MS: '60000' });
    runtime.onApplicationBootstrap();
    await flush();
    const consumer = consumers[0];
    consumer.emit('group_join', { memberAssignment: { raw: [0] } });
    await consumer.runConfig!.eachBatch!(batchOf(codec, [rawText()]));
    await flush();
    const second = batchOf(codec, [rawText(), rawText()]);
    second.batch.messages.forEach((m, i) => (m.offset = String(i + 1)));
    second.batch.lastOffset = () => '2';
    await consumer.runConfig!.eachBatch!(second);
    await flush();
    expect(producer.messages('tokenized')).toHaveLength(3);
    expect(consumer.consumer.commitOffsets).toHaveBeenCalledTimes(1);
    expect(consumer.consumer.commitOffsets).toHaveBeenLastCalledWith([{ topic: 'raw', partition: 0, offset: '1' }]);
    await runtime.beforeApplicationShutdown();
    expect(consumer.consumer.commitOffsets).toHaveBeenLastCalledWith([{ topic: 'raw', partition: 0, offset: '3' }]);
  });

  it('starts a fresh consumer after a crash, and is not ready meanwhile', async () => {
    jest.useFakeTimers();
    try {
      const { runtime, consumers, checks } = await setup();
      runtime.onApplicationBootstrap();
      await jest.advanceTimersByTimeAsync(0);
      consumers[0].emit('group_join', { memberAssignment: { raw: [0] } });
      consumers[0].emit('crash', { error: new Error('KafkaJSNumberOfRetriesExceeded') });
      expect((await checks()).consumer).toBe(false);
      await jest.advanceTimersByTimeAsync(300);
      expect(consumers).toHaveLength(2);
      consumers[1].emit('group_join', { memberAssignment: { raw: [0] } });
      expect((await checks()).consumer).toBe(true);
      await runtime.beforeApplicationShutdown();
    } finally {
      jest.useRealTimers();
    }
  });
});
