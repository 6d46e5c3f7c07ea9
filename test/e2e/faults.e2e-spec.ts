import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AvroCodec, SchemaRegistryAdapter } from '@app/avro';
import { dlqTopicFor, readDlqHeaders } from '@app/kafka';
import {
  AppName,
  FaultStream,
  isolatedEnv,
  LocalInfra,
  postJson,
  ROOT,
  RunningService,
  startPipeline,
  startService,
  stopService,
  TopicReader,
  uniqueSuffix,
  waitFor,
  waitReady,
} from '@app/testing';
import { Kafka } from 'kafkajs';

// Each scenario streams this many texts at this rate and injects its fault mid-way.
const TEXTS = 5_000;
const RATE_PER_S = 150;
// How long readiness may lag a change (the contract), plus one poll interval of this test.
const READINESS_LAG_MS = 5_000 + 1_000;
const STAGES: AppName[] = ['preprocessor', 'inference'];
const MODES = ['at-least-once', 'exactly-once'] as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Each scenario's figures go to .e2e/fault-report.jsonl, for the record of what was measured. */
function record(row: Record<string, unknown>): void {
  mkdirSync(join(ROOT, '.e2e'), { recursive: true });
  appendFileSync(
    join(ROOT, '.e2e', 'fault-report.jsonl'),
    JSON.stringify({ at: new Date().toISOString(), ...row }) + '\n',
  );
  console.log(JSON.stringify(row));
}

async function isLive(service: RunningService): Promise<boolean> {
  const res = await fetch(`${service.url}/health/live`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined);
  return res?.status === 200;
}

async function isReady(service: RunningService): Promise<boolean> {
  const res = await fetch(`${service.url}/health/ready`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
  return res?.status === 200;
}

/** Ms until every service's readiness equals `ready`, polled every 250 ms; fails after `timeoutMs`. */
async function readinessBecomes(services: RunningService[], ready: boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  await waitFor(async () => (await Promise.all(services.map(isReady))).every((r) => r === ready), {
    timeoutMs,
    intervalMs: 250,
    description: `${services.map((s) => s.app).join(', ')} ${ready ? 'ready' : 'not ready'}`,
  });
  return Date.now() - started;
}

describe('faults the pipeline absorbs (a private Kafka and registry, the services as processes)', () => {
  let infra: LocalInfra;
  let kafka: Kafka;
  const running: RunningService[] = [];
  const streams: FaultStream[] = [];

  beforeAll(async () => {
    infra = await LocalInfra.allocate('faults');
    await infra.up();
    kafka = FaultStream.patientKafka(infra.brokers);
  }, 600_000);

  afterEach(async () => {
    await Promise.all(streams.splice(0).map((s) => s.stop()));
    await Promise.all(running.splice(0).map((s) => stopService(s)));
  });

  afterAll(async () => {
    await infra?.down();
  }, 120_000);

  /** A fresh pipeline on its own topics and groups, and a stream of TEXTS texts ready to send into it. */
  async function setUp(extraEnv: Record<string, string> = {}) {
    const env = { ...infra.env, ...isolatedEnv({ TOPIC_PARTITIONS: '3', ...extraEnv }) };
    const services = await startPipeline(env);
    running.push(...Object.values(services));
    const codec = new AvroCodec(new SchemaRegistryAdapter(infra.registryUrl), {
      raw: env.TOPIC_RAW,
      tokenized: env.TOPIC_TOKENIZED,
      prediction: env.TOPIC_PREDICTIONS,
    });
    await codec.registerAll();
    const stream = new FaultStream(kafka, codec, { raw: env.TOPIC_RAW, predictions: env.TOPIC_PREDICTIONS }, TEXTS);
    streams.push(stream);
    await stream.startReaders();
    return { env, services, stream };
  }

  async function restart(app: AppName, env: Record<string, string>): Promise<RunningService> {
    const service = await startService(app, env);
    running.push(service);
    return service;
  }

  // Exactly-once runs the same outage: its transactions abort and retry across it, and a
  // read_committed reader must see each prediction once.
  it.each(MODES)(
    '%s: loses nothing when the broker is killed -9 and comes back 10 s later; readiness follows it',
    async (mode) => {
      const { services, stream } = await setUp({ DELIVERY: mode });
      stream.startSending(RATE_PER_S);
      await waitFor(() => stream.predictedCount() >= TEXTS / 5, {
        timeoutMs: 120_000,
        description: 'a fifth predicted',
      });

      await infra.killBroker();
      const notReadyMs = await readinessBecomes(Object.values(services), false, 30_000);
      await sleep(10_000 - notReadyMs);
      await infra.up();
      const backAt = Date.now();
      const readyAgainMs = await readinessBecomes(Object.values(services), true, 120_000);

      await stream.sent();
      await stream.waitForAll(300_000);
      const report = stream.report();
      const flowsAgainMs = stream.firstPredictionAfter(backAt)! - backAt;
      record({ fault: 'kill -9 broker, back after 10 s', mode, ...report, flowsAgainMs, notReadyMs, readyAgainMs });
      expect(report.lost).toBe(0);
      if (mode === 'exactly-once') expect(report.duplicates).toBe(0);
      expect(notReadyMs).toBeLessThanOrEqual(READINESS_LAG_MS);
    },
  );

  it.each(STAGES)('loses nothing when %s is killed -9 and restarted', async (app) => {
    // kafkajs's default session timeout: without the removal of the killed member, the restarted one
    // would wait for it to expire (~30 s) before its group rebalances.
    const { env, services, stream } = await setUp({ KAFKA_SESSION_TIMEOUT_MS: '30000' });
    stream.startSending(RATE_PER_S);
    await waitFor(() => stream.predictedCount() >= TEXTS / 5, { timeoutMs: 120_000, description: 'a fifth predicted' });

    services[app].process.kill('SIGKILL');
    await services[app].exited;
    const restartedAt = Date.now();
    const again = await restart(app, env);
    // Booted: its HTTP server answers (loading the code alone takes seconds on a busy machine).
    await waitFor(() => isLive(again), { timeoutMs: 120_000, intervalMs: 50, description: `${app} live` });
    const upAfterMs = Date.now() - restartedAt;
    await waitReady(again, 120_000);
    const readyAfterMs = Date.now() - restartedAt;

    await stream.sent();
    await stream.waitForAll(300_000);
    const report = stream.report();
    // The preprocessor's output shows in tokenizedAt; inference's in predictedAt.
    const flowsAgainMs = stream.firstStageOutputAfter(app, restartedAt)! - restartedAt;
    record({ fault: `kill -9 ${app}, restarted`, ...report, flowsAgainMs, upAfterMs, readyAfterMs });
    expect(report.lost).toBe(0);
    // The restarted process removes the member the killed one left behind rather than waiting for its
    // session timeout, and flows again within 5 s of having booted.
    expect(flowsAgainMs - upAfterMs).toBeLessThanOrEqual(5_000);
  });

  it('SIGTERM of inference mid-stream drains: nothing lost, nothing duplicated', async () => {
    const { env, services, stream } = await setUp();
    stream.startSending(RATE_PER_S);
    await waitFor(() => stream.predictedCount() >= TEXTS / 5, { timeoutMs: 120_000, description: 'a fifth predicted' });

    services.inference.process.kill('SIGTERM');
    // A draining instance is not ready, and it says so before it exits.
    const drainingReady = await isReady(services.inference);
    expect(await services.inference.exited).toBe(0);
    const restartedAt = Date.now();
    await waitReady(await restart('inference', env), 120_000);

    await stream.sent();
    await stream.waitForAll(300_000);
    const report = stream.report();
    const flowsAgainMs = stream.firstStageOutputAfter('inference', restartedAt)! - restartedAt;
    record({ fault: 'SIGTERM inference, restarted', ...report, flowsAgainMs, drainingReady });
    expect(report).toMatchObject({ lost: 0, duplicates: 0 });
  });

  it('a graceful scale-out (a second inference joins, then the first gets SIGTERM) loses nothing, duplicates at most 0.1%', async () => {
    const { env, services, stream } = await setUp();
    stream.startSending(RATE_PER_S);
    await waitFor(() => stream.predictedCount() >= TEXTS / 5, { timeoutMs: 120_000, description: 'a fifth predicted' });

    const second = await restart('inference', env);
    await waitReady(second, 120_000);
    await waitFor(() => stream.predictedCount() >= (TEXTS * 2) / 5, { timeoutMs: 120_000, description: 'two fifths' });
    await stopService(services.inference, 'SIGTERM');

    await stream.sent();
    await stream.waitForAll(300_000);
    const report = stream.report();
    record({ fault: 'scale-out: join, then SIGTERM of the first inference', ...report });
    expect(report.lost).toBe(0);
    // At most 0.1%: the first instance commits what it holds before it rejoins, and again before it leaves.
    expect(report.duplicates).toBeLessThanOrEqual(TEXTS / 1000);
  });

  it('moves on past a raw record whose DLQ copy is over the broker limit, with a truncated copy flagged', async () => {
    const { env, stream } = await setUp();
    const dlq = await new TopicReader(kafka, dlqTopicFor(env.TOPIC_RAW)).start();
    const producer = kafka.producer();
    await producer.connect();
    try {
      // Fits on raw (the broker's default limit is 1,048,588 bytes a batch) but not with the DLQ headers.
      const junk = Buffer.alloc(1_048_400, 0x61);
      const hugeKey = `huge-${uniqueSuffix()}`;
      await producer.send({ topic: env.TOPIC_RAW, acks: -1, messages: [{ key: hugeKey, value: junk, partition: 0 }] });
      const sentAt = Date.now();
      // The stream's records land on every partition, partition 0 included, after the junk.
      stream.startSending(RATE_PER_S * 4);
      await stream.sent();
      await stream.waitForAll(120_000);
      await dlq.waitForKeys([hugeKey], 60_000);
      const copy = dlq.messages.find((m) => m.key === hugeKey)!;
      const headers = readDlqHeaders(copy.headers);
      record({
        fault: 'raw record whose DLQ copy is too large',
        movedOnMs: stream.firstPredictionAfter(sentAt)! - sentAt,
        ...stream.report(),
        dlqBytes: copy.value?.length,
        truncated: copy.headers['dlq.truncated']?.toString(),
      });
      expect(stream.report()).toMatchObject({ lost: 0, duplicates: 0 });
      expect(headers).toMatchObject({ stage: 'preprocessor', topic: env.TOPIC_RAW, partition: '0' });
      expect(copy.headers['dlq.truncated']?.toString()).toBe(String(junk.length));
      expect(copy.value!.length).toBeLessThan(junk.length);
      expect(copy.value!.equals(junk.subarray(0, copy.value!.length))).toBe(true);
    } finally {
      await producer.disconnect();
      await dlq.disconnect();
    }
  });

  it('a draining instance is not ready while it finishes its work', async () => {
    // A long batch wait keeps records in flight, so the drain lasts long enough to be seen.
    const { services, stream } = await setUp({ BATCH_MAX_WAIT_MS: '3000', BATCH_MAX_SIZE: '256' });
    stream.startSending(RATE_PER_S);
    await waitFor(() => stream.predictedCount() >= 100, { timeoutMs: 120_000, description: 'first predictions' });
    expect(await isReady(services.inference)).toBe(true);
    services.inference.process.kill('SIGTERM');
    const notReadyMs = await readinessBecomes([services.inference], false, READINESS_LAG_MS);
    expect(await services.inference.exited).toBe(0);
    record({ fault: 'SIGTERM inference: readiness while draining', notReadyMs });
  });

  it('keeps serving on cached schemas while the registry is down, and stays ready', async () => {
    const { services, stream } = await setUp();
    // One call through each stage caches every schema the pipeline needs.
    expect((await postJson(`${services.gateway.url}/predict`, { text: 'before the registry outage' })).status).toBe(
      200,
    );

    await infra.killRegistry();
    try {
      const answers = [];
      for (let i = 0; i < 5; i++) {
        answers.push((await postJson(`${services.gateway.url}/predict`, { text: `during the outage ${i}` })).status);
      }
      expect(answers).toEqual([200, 200, 200, 200, 200]);
      const ready = await Promise.all(Object.values(services).map(isReady));
      record({ fault: 'kill -9 registry', answers, ready });
      expect(ready).toEqual([true, true, true]);
      stream.startSending(RATE_PER_S * 4);
      await stream.sent();
      await stream.waitForAll(120_000);
      expect(stream.report()).toMatchObject({ lost: 0, duplicates: 0 });
    } finally {
      await infra.up();
    }
  });
});
