import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AvroCodec, SchemaRegistryAdapter } from '@app/avro';
import {
  AppName,
  FaultStream,
  isolatedEnv,
  ROOT,
  RunningService,
  startPipeline,
  startService,
  stopService,
  waitFor,
  waitReady,
} from '@app/testing';
import { Kafka } from 'kafkajs';

// Each scenario streams this many texts at this rate and injects its faults while they flow
// (the reported figures use 5,000: EOS_E2E_TEXTS=5000).
const TEXTS = Number(process.env.EOS_E2E_TEXTS ?? 2_000);
const RATE_PER_S = 150;
const BROKERS = (process.env.KAFKA_BROKERS ?? 'localhost:9092').split(',');
const REGISTRY = process.env.SCHEMA_REGISTRY_URL ?? 'http://localhost:8081/apis/ccompat/v7';
const MODES = ['exactly-once', 'at-least-once'] as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Each scenario's figures go to .e2e/fault-report.jsonl, next to the other fault tests'. */
function record(row: Record<string, unknown>): void {
  mkdirSync(join(ROOT, '.e2e'), { recursive: true });
  appendFileSync(
    join(ROOT, '.e2e', 'fault-report.jsonl'),
    JSON.stringify({ at: new Date().toISOString(), texts: TEXTS, ...row }) + '\n',
  );
  console.log(JSON.stringify(row));
}

/**
 * Exactly-once delivery against real failures: the services as processes on the test Kafka, each
 * pipeline on its own topics and groups, predictions counted by a read_committed reader.
 */
describe('exactly-once delivery (DELIVERY=exactly-once; at-least-once runs the same faults for comparison)', () => {
  let kafka: Kafka;
  const running: RunningService[] = [];
  const streams: FaultStream[] = [];

  beforeAll(() => {
    kafka = FaultStream.patientKafka(BROKERS);
  });

  afterEach(async () => {
    await Promise.all(streams.splice(0).map((s) => s.stop()));
    await Promise.all(running.splice(0).map((s) => stopService(s)));
  });

  async function setUp(delivery: string) {
    const env: Record<string, string> = {
      KAFKA_BROKERS: BROKERS.join(','),
      SCHEMA_REGISTRY_URL: REGISTRY,
      ...isolatedEnv({ TOPIC_PARTITIONS: '3', DELIVERY: delivery, METRICS_LAG_INTERVAL_MS: '0' }),
    };
    const services = await startPipeline(env);
    running.push(...Object.values(services));
    const codec = new AvroCodec(new SchemaRegistryAdapter(REGISTRY), {
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

  async function start(app: AppName, env: Record<string, string>): Promise<RunningService> {
    const service = await startService(app, env);
    running.push(service);
    await waitReady(service, 120_000);
    return service;
  }

  async function killAndRestart(service: RunningService, env: Record<string, string>): Promise<RunningService> {
    service.process.kill('SIGKILL');
    await service.exited;
    return start(service.app, env);
  }

  it.each(MODES)('%s: kill -9 of the preprocessor, then of inference, mid-stream', async (mode) => {
    const { env, services, stream } = await setUp(mode);
    stream.startSending(RATE_PER_S);
    await waitFor(() => stream.predictedCount() >= TEXTS / 5, { timeoutMs: 120_000, description: 'a fifth predicted' });
    await killAndRestart(services.preprocessor, env);
    const afterFirst = stream.predictedCount();
    await waitFor(() => stream.predictedCount() >= Math.min(TEXTS - 1, afterFirst + TEXTS / 10), {
      timeoutMs: 120_000,
      description: 'predictions flowing again after the preprocessor restart',
    });
    await killAndRestart(services.inference, env);

    await stream.sent();
    await stream.waitForAll(300_000);
    // Let anything late (a duplicate still in flight) arrive before counting.
    await sleep(3_000);
    const report = stream.report();
    record({ fault: 'kill -9 preprocessor, then inference, restarted', mode, ...report });
    expect(report.lost).toBe(0);
    if (mode === 'exactly-once') expect(report.duplicates).toBe(0);
  });

  it('exactly-once: a graceful scale-out (a second inference joins, then the first gets SIGTERM)', async () => {
    const { env, services, stream } = await setUp('exactly-once');
    stream.startSending(RATE_PER_S);
    await waitFor(() => stream.predictedCount() >= TEXTS / 5, { timeoutMs: 120_000, description: 'a fifth predicted' });
    await start('inference', env);
    await waitFor(() => stream.predictedCount() >= (TEXTS * 2) / 5, { timeoutMs: 120_000, description: 'two fifths' });
    await stopService(services.inference, 'SIGTERM');

    await stream.sent();
    await stream.waitForAll(300_000);
    await sleep(3_000);
    const report = stream.report();
    record({ fault: 'scale-out: join, then SIGTERM of the first inference', mode: 'exactly-once', ...report });
    expect(report).toMatchObject({ lost: 0, duplicates: 0 });
  });

  it('exactly-once: a zombie (inference paused until its partitions moved, then resumed) is fenced', async () => {
    const { env, services, stream } = await setUp('exactly-once');
    const standby = await start('inference', env);
    stream.startSending(RATE_PER_S);
    await waitFor(() => stream.predictedCount() >= TEXTS / 5, { timeoutMs: 120_000, description: 'a fifth predicted' });

    const zombie = services.inference;
    zombie.process.kill('SIGSTOP');
    const pausedAt = Date.now();
    // The session timeout (6 s) passes; the standby takes every partition and writes again.
    await waitFor(() => stream.firstStageOutputAfter('inference', pausedAt + 6_000) !== undefined, {
      timeoutMs: 60_000,
      description: 'the standby predicting after the zombie lost its partitions',
    });
    zombie.process.kill('SIGCONT');
    // The resumed zombie finds its transactional ids taken over: it stops without a visible write.
    const exitCode = await Promise.race([zombie.exited, sleep(60_000).then(() => 'still running')]);

    await stream.sent();
    await stream.waitForAll(300_000);
    await sleep(3_000);
    const report = stream.report();
    record({
      fault: 'zombie inference: SIGSTOP past the session timeout, then SIGCONT',
      mode: 'exactly-once',
      ...report,
      exitCode,
    });
    expect(report).toMatchObject({ lost: 0, duplicates: 0 });
    expect(standby.process.exitCode).toBeNull();
  });
});
