import { AvroCodec, SchemaRegistryAdapter } from '@app/avro';
import { loadConfig } from '@app/config';
import { createKafka } from '@app/kafka';
import {
  isolatedEnv,
  postJson,
  RunningService,
  startService,
  stopService,
  TopicReader,
  uniqueSuffix,
  waitReady,
} from '@app/testing';
import { Kafka, Partitioners, Producer } from 'kafkajs';

/** A counter from a gateway's /metrics. */
async function metric(gateway: RunningService, name: string): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe('replies that scale: two gateways, each reading only its own replies', () => {
  const env = isolatedEnv({ REPLY_PARTITIONS: '4', PREDICT_TIMEOUT_MS: '60000' });
  const config = loadConfig({ ...process.env, ...env });
  const services: RunningService[] = [];
  let a: RunningService;
  let b: RunningService;
  let kafka: Kafka;
  let producer: Producer;
  let replies: TopicReader;
  let predictions: TopicReader;

  beforeAll(async () => {
    const started = await Promise.all([
      startService('preprocessor', env),
      startService('inference', env),
      startService('gateway', { ...env, GATEWAY_REPLY_PARTITION: '1' }),
      startService('gateway', { ...env, GATEWAY_REPLY_PARTITION: '2' }),
    ]);
    services.push(...started);
    [, , a, b] = started;
    await Promise.all(started.map((s) => waitReady(s)));
    kafka = createKafka(config.kafka.brokers, 'e2e');
    producer = kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    replies = await new TopicReader(kafka, config.topics.replies).start();
    predictions = await new TopicReader(kafka, config.topics.predictions).start();
  });

  afterAll(async () => {
    await replies?.disconnect();
    await predictions?.disconnect();
    await producer?.disconnect();
    await Promise.all(services.map((s) => stopService(s)));
  });

  it('answers each gateway its own /predict calls through its own partition, and neither fetches the other’s', async () => {
    const texts = (who: string) =>
      Array.from({ length: 8 }, (_, i) => `${who} 比赛第${i}场，主队获胜 ${uniqueSuffix()}`);
    const call = (gateway: RunningService, text: string) => postJson(`${gateway.url}/predict`, { text });
    const [fromA, fromB] = await Promise.all([
      Promise.all(texts('A').map((t) => call(a, t))),
      Promise.all(texts('B').map((t) => call(b, t))),
    ]);
    for (const res of [...fromA, ...fromB]) expect(res.status).toBe(200);
    const idsA = new Set(fromA.map((r) => r.body.id as string));
    const idsB = new Set(fromB.map((r) => r.body.id as string));

    await replies.waitForKeys([...idsA, ...idsB], 30_000);
    const onPartition = (p: number) => replies.messages.filter((m) => m.partition === p).map((m) => m.key!);
    expect(new Set(onPartition(1))).toEqual(idsA);
    expect(new Set(onPartition(2))).toEqual(idsB);
    // Every prediction is also on the predictions topic, for any other consumer.
    await predictions.waitForKeys([...idsA, ...idsB], 30_000);

    // What each gateway fetched is exactly what its partition holds: none of the other's replies.
    expect(await metric(a, 'gateway_reply_fetched_records_total')).toBe(onPartition(1).length);
    expect(await metric(b, 'gateway_reply_fetched_records_total')).toBe(onPartition(2).length);
  });

  it("carries the request's traceparent through to its reply", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await fetch(`${a.url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      body: JSON.stringify({ text: '央行宣布下调存款准备金率' }),
    });
    expect(res.status).toBe(200);
    const { id } = (await res.json()) as { id: string };
    await replies.waitForKeys([id], 30_000);
    const reply = replies.messages.find((m) => m.key === id)!;
    expect(reply.partition).toBe(1);
    expect(String(reply.headers.traceparent).split('-')[1]).toBe(traceId);
  });

  it('a producer without reply headers still gets its prediction on the predictions topic, and no reply', async () => {
    const codec = new AvroCodec(new SchemaRegistryAdapter(config.registry.url), {
      raw: config.topics.raw,
      tokenized: config.topics.tokenized,
      prediction: config.topics.predictions,
    });
    await codec.registerAll();
    const id = `plain-${uniqueSuffix()}`;
    await producer.send({
      topic: config.topics.raw,
      messages: [
        {
          key: id,
          value: codec.encode('raw', { id, text: '股市今日大涨', createdAt: Date.now(), source: 'e2e', metadata: {} }),
        },
      ],
    });
    await predictions.waitForKeys([id], 60_000);
    const prediction = await codec.decode('prediction', predictions.messages.find((m) => m.key === id)!.value);
    expect(prediction.id).toBe(id);
    expect(replies.keys().has(id)).toBe(false);
  });
});
