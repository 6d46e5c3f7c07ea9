import { AvroSerializer, SchemaRegistration } from '@app/avro';
import type { GatewayConfig } from '@app/config';
import type { KafkaConnection } from '@app/kafka';
import { MetricsService } from '@app/observability';
import { brokerDown, FakeClock, FakeProducer, predictionRecord, registeredCodec } from '@app/testing';
import { HttpException } from '@nestjs/common';
import { PendingReplies } from '../replies/pending-replies';
import type { PredictionListener } from '../replies/prediction.listener';
import { PredictService } from './predict.service';

const config = {
  topics: { raw: 'raw' },
  limits: { predictTimeoutMs: 200 },
  gateway: { produceTimeoutMs: 100, maxPendingReplies: 3 },
} as GatewayConfig;

async function setup(state: { kafka?: boolean; schemas?: boolean; listening?: boolean } = {}) {
  const { codec } = await registeredCodec();
  const producer = new FakeProducer();
  const pending = new PendingReplies();
  const service = new PredictService(
    config,
    new AvroSerializer(codec, 'raw'),
    new FakeClock(42),
    producer.asAdapter(),
    { isReady: state.kafka ?? true } as KafkaConnection,
    { isRegistered: state.schemas ?? true } as SchemaRegistration,
    { isListening: state.listening ?? true, replyTo: { topic: 'replies', partition: 5 } } as PredictionListener,
    pending,
    new MetricsService(),
  );
  return { service, producer, pending, codec };
}

const status = (error: unknown) => (error as HttpException).getStatus();
const body = (error: unknown) => (error as HttpException).getResponse() as { error: string; message: string };

describe('PredictService', () => {
  it("puts the request's traceparent on every record it produces", async () => {
    const { service, producer } = await setup();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await service.submit(
      [
        { text: 'one', metadata: {} },
        { text: 'two', metadata: {} },
      ],
      { traceparent },
    );
    expect(producer.messages('raw').map((m) => m.headers?.traceparent)).toEqual([traceparent, traceparent]);
  });

  it("predict() names this instance's reply partition on every record, next to the traceparent; submit() names none", async () => {
    const { service, producer, pending } = await setup();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const answer = service.predict([{ text: 'one', metadata: {} }], { traceparent });
    await new Promise((r) => setImmediate(r));
    const [sync] = producer.messages('raw');
    expect(sync.headers).toEqual({ traceparent, 'reply-topic': 'replies', 'reply-partition': '5' });
    pending.deliver(predictionRecord({ id: String(sync.key) }));
    await answer;
    await service.submit([{ text: 'two', metadata: {} }], { traceparent });
    // Fire and forget: the prediction goes onto the predictions topic only.
    expect(producer.messages('raw')[1].headers).toEqual({ traceparent });
  });

  it('submit() produces one raw record per text, keyed by a new id, and returns the ids once acknowledged', async () => {
    const { service, producer, codec } = await setup();
    const ids = await service.submit([
      { text: 'one', metadata: {} },
      { text: 'two', metadata: { a: 'b' } },
    ]);
    const sent = producer.messages('raw');
    expect(sent.map((m) => m.key)).toEqual(ids);
    const decoded = await codec.decode('raw', sent[1].value as Buffer);
    expect(decoded).toEqual({ id: ids[1], text: 'two', createdAt: 42, source: 'gateway', metadata: { a: 'b' } });
  });

  it('predict() answers with the predictions of its own ids, in input order', async () => {
    const { service, producer, pending } = await setup();
    const answer = service.predict([
      { text: 'one', metadata: {} },
      { text: 'two', metadata: {} },
    ]);
    await new Promise((r) => setImmediate(r));
    const [first, second] = producer.messages('raw').map((m) => String(m.key));
    pending.deliver(predictionRecord({ id: second, label: 'spam' }));
    pending.deliver(predictionRecord({ id: first, label: 'ham' }));
    expect((await answer).map((p) => [p.id, p.label])).toEqual([
      [first, 'ham'],
      [second, 'spam'],
    ]);
  });

  it.each([
    [{ kafka: false }, /Kafka/],
    [{ schemas: false }, /registry/],
    [{ listening: false }, /listening/],
  ])('answers 503 without producing while a dependency is missing (%p)', async (state, message) => {
    const { service, producer } = await setup(state);
    const error = await service.predict([{ text: 'x', metadata: {} }]).catch((e: unknown) => e);
    expect(status(error)).toBe(503);
    expect(body(error).message).toMatch(message);
    expect(producer.attempts).toBe(0);
  });

  it('answers 503 when Kafka refuses or does not acknowledge within PRODUCE_TIMEOUT_MS', async () => {
    const refused = await setup();
    refused.producer.failWith(() => brokerDown());
    const error = await refused.service.submit([{ text: 'x', metadata: {} }]).catch((e: unknown) => e);
    expect(status(error)).toBe(503);
    expect(body(error).message).toMatch(/ECONNREFUSED/);

    const hanging = await setup();
    jest.spyOn(hanging.producer, 'send').mockReturnValue(new Promise(() => undefined));
    const late = await hanging.service.predict([{ text: 'x', metadata: {} }]).catch((e: unknown) => e);
    expect(status(late)).toBe(503);
    expect(body(late).message).toMatch(/PRODUCE_TIMEOUT_MS=100/);
    expect(hanging.pending.size).toBe(0);
  });

  it('answers 504 naming PREDICT_TIMEOUT_MS when no prediction arrives, and forgets the request', async () => {
    const { service, pending } = await setup();
    const error = await service.predict([{ text: 'x', metadata: {} }]).catch((e: unknown) => e);
    expect(status(error)).toBe(504);
    expect(body(error).message).toMatch(/PREDICT_TIMEOUT_MS=200/);
    expect(pending.size).toBe(0);
  });

  it('sheds load: over MAX_PENDING_REPLIES waiting texts, answers 503 overloaded at once without producing', async () => {
    const { service, producer, pending } = await setup();
    const first = service.predict([
      { text: 'a', metadata: {} },
      { text: 'b', metadata: {} },
    ]);
    first.catch(() => undefined);
    await new Promise((r) => setImmediate(r));
    expect(pending.size).toBe(2);
    const error = await service
      .predict([
        { text: 'c', metadata: {} },
        { text: 'd', metadata: {} },
      ])
      .catch((e: unknown) => e);
    expect(status(error)).toBe(503);
    expect(body(error)).toEqual({ error: 'overloaded', message: expect.stringMatching(/MAX_PENDING_REPLIES=3/) });
    expect((error as { retryAfterSeconds?: number }).retryAfterSeconds).toBe(1);
    expect(producer.messages('raw')).toHaveLength(2);
    await first.catch(() => undefined);
  });
});
