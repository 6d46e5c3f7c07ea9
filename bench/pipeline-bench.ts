import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { AvroCodec, Prediction, RawText, SchemaRegistryAdapter } from '@app/avro';
import { AppConfig, loadConfig, projectRoot } from '@app/config';
import { createKafka } from '@app/kafka';
import { cpuPlan, latencySessionThreads, loadModelInfo } from '@app/model';
import { parsePromText, PromSample, sumOf } from '@app/observability';
import {
  AppName,
  isolatedEnv,
  postJson,
  RunningService,
  startService,
  stopService,
  TopicReader,
  waitReady,
} from '@app/testing';
import { TextTokenizer } from '@app/tokenizer';
import { Kafka, logLevel, Partitioners, Producer } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { percentile } from './bench-texts';
import { CpuReading, readCpu } from './proc-cpu';

/** Starts Kafka and the registry (unless INFRA_EXTERNAL=1) and builds these services (unless BENCH_NO_BUILD=1). */
export function prepareBench(apps: AppName[]): void {
  const root = projectRoot();
  if (process.env.INFRA_EXTERNAL !== '1')
    execFileSync('bash', [join(root, 'infra/infra.sh'), 'up'], { stdio: 'inherit' });
  if (process.env.BENCH_NO_BUILD !== '1')
    for (const app of apps) execFileSync('npx', ['nest', 'build', app], { cwd: root, stdio: 'inherit' });
}

/** Paced runs as BENCH_RATES gives them: comma-separated `<texts/s>x<seconds>`, in order. */
export function pacedRuns(spec: string): { rate: number; seconds: number }[] {
  return spec.split(',').map((r) => {
    const [rate, seconds] = r.split('x').map(Number);
    return { rate, seconds };
  });
}

/** A pid that infra/infra.sh wrote (under INFRA_DIR, default .infra/). */
function infraPid(file: string): number {
  return Number(readFileSync(infraPath(file), 'utf8'));
}

function infraPath(file: string): string {
  return join(process.env.INFRA_DIR ?? join(projectRoot(), '.infra'), file);
}

/** One isolated pipeline (its own topics and groups) plus the clients the benchmark drives it with. */
export class BenchPipeline {
  readonly config: AppConfig;
  readonly services: RunningService[] = [];
  kafka!: Kafka;
  producer!: Producer;
  codec!: AvroCodec;
  predictions!: TopicReader;
  readonly received = new Map<string, { at: number; prediction?: Prediction }>();
  private brokerPid?: number;

  constructor(readonly env: Record<string, string>) {
    this.config = loadConfig({ ...process.env, ...env });
  }

  static create(overrides: Record<string, string> = {}): BenchPipeline {
    return new BenchPipeline(isolatedEnv(overrides));
  }

  async connect(): Promise<void> {
    this.kafka = createKafka(this.config.kafka.brokers, 'bench', logLevel.ERROR, this.config.kafka.security);
    // Not idempotent: the paced runs keep several sends in flight, which kafkajs's idempotent producer does not support.
    this.producer = this.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await this.producer.connect();
    this.codec = new AvroCodec(SchemaRegistryAdapter.fromConfig(this.config.registry), {
      raw: this.config.topics.raw,
      tokenized: this.config.topics.tokenized,
      prediction: this.config.topics.predictions,
    });
    await this.codec.registerAll();
    const admin = this.kafka.admin();
    await admin.connect();
    const { raw, tokenized, predictions, partitions } = this.config.topics;
    await admin.createTopics({
      waitForLeaders: true,
      topics: [raw, tokenized, predictions].map((topic) => ({ topic, numPartitions: partitions })),
    });
    await admin.disconnect();
    this.predictions = await new TopicReader(this.kafka, this.config.topics.predictions).start();
    // Record arrival time per id as the records come in (the reader keeps the raw messages).
    setInterval(() => this.drain(), 50).unref();
  }

  private drained = 0;
  private drain(): void {
    for (; this.drained < this.predictions.messages.length; this.drained++) {
      // The reader's own arrival time: this 50 ms sweep would add up to 50 ms to every latency.
      const { key, receivedAt } = this.predictions.messages[this.drained];
      if (key && !this.received.has(key)) this.received.set(key, { at: receivedAt });
    }
  }

  async start(...apps: ('gateway' | 'preprocessor' | 'inference')[]): Promise<void> {
    const started = await Promise.all(apps.map((app) => startService(app, this.env)));
    this.services.push(...started);
    await Promise.all(started.map((s) => waitReady(s, 120_000)));
  }

  service(app: string): RunningService {
    return this.services.find((s) => s.app === app)!;
  }

  /** CPU seconds so far of these services and of the Kafka broker (for the figures per 1,000 texts). */
  cpu(...apps: string[]): Record<string, CpuReading> {
    this.brokerPid ??= infraPid('kafka/kafka.pid');
    return {
      ...Object.fromEntries(apps.map((app) => [app, readCpu(this.service(app).process.pid!)])),
      broker: readCpu(this.brokerPid),
    };
  }

  /** The pids of these services, the local broker and registry (where infra.sh started them) and this process. */
  pids(...apps: string[]): Record<string, number> {
    const local = (file: string) => (existsSync(infraPath(file)) ? infraPid(file) : undefined);
    const infra = { broker: local('kafka/kafka.pid'), registry: local('apicurio/apicurio.pid') };
    return {
      ...Object.fromEntries(apps.map((app) => [app, this.service(app).process.pid!])),
      ...Object.fromEntries(Object.entries(infra).filter(([, pid]) => pid !== undefined)),
      bench: process.pid,
    };
  }

  rawMessages(texts: string[]): { ids: string[]; messages: { key: string; value: Buffer }[] } {
    const records: RawText[] = texts.map((text) => ({
      id: randomUUID(),
      text,
      createdAt: Date.now(),
      source: 'bench',
      metadata: {},
    }));
    return {
      ids: records.map((r) => r.id),
      messages: records.map((r) => ({ key: r.id, value: this.codec.encode('raw', r) })),
    };
  }

  async produceRaw(texts: string[], chunk = 500): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < texts.length; i += chunk) {
      const { ids: chunkIds, messages } = this.rawMessages(texts.slice(i, i + chunk));
      await this.producer.send({ topic: this.config.topics.raw, acks: -1, messages });
      ids.push(...chunkIds);
    }
    return ids;
  }

  /** Tokenized records, encoded with the model's own tokenizer (for the service-alone run), not yet sent. */
  tokenizedMessages(texts: string[]): { ids: string[]; messages: { key: string; value: Buffer }[] } {
    const info = loadModelInfo(this.config.model.dir);
    const tokenizer = TextTokenizer.fromFile(info.tokenizerPath, info.maxLength);
    const ids: string[] = [];
    const messages = texts.map((text) => {
      const id = randomUUID();
      ids.push(id);
      const { inputIds, tokenCount, truncated } = tokenizer.encode(text);
      const now = Date.now();
      const value = this.codec.encode('tokenized', {
        id,
        inputIds,
        tokenCount,
        truncated,
        tokenizer: `${info.name}@${info.version}`,
        createdAt: now,
        tokenizedAt: now,
        source: 'bench',
        metadata: {},
      });
      return { key: id, value };
    });
    return { ids, messages };
  }

  /** Sends encoded tokenized records (see tokenizedMessages). */
  async sendTokenized(messages: { key: string; value: Buffer }[], chunk = 500): Promise<void> {
    for (let i = 0; i < messages.length; i += chunk)
      await this.producer.send({
        topic: this.config.topics.tokenized,
        acks: -1,
        messages: messages.slice(i, i + chunk),
      });
  }

  /**
   * Runs texts through the started services and waits for their predictions, before a timed part:
   * the ceiling warms each session with a run first, so the services get the same (JIT-compiled
   * Kafka and Avro paths, onnxruntime's first runs of each shape). `tokenized`: onto the tokenized
   * topic (inference alone), else onto raw.
   */
  async warmUp(texts: string[], into: 'raw' | 'tokenized' = 'raw'): Promise<void> {
    let ids: string[];
    if (into === 'raw') ids = await this.produceRaw(texts);
    else {
      const warm = this.tokenizedMessages(texts);
      await this.sendTokenized(warm.messages);
      ids = warm.ids;
    }
    await this.waitAll(ids, 300_000);
  }

  async waitAll(ids: string[], timeoutMs: number): Promise<void> {
    await this.predictions.waitForKeys(ids, timeoutMs);
    this.drain();
  }

  /** Decoded predictions of these ids (first copy of each). */
  async decoded(ids: string[]): Promise<Prediction[]> {
    const wanted = new Set(ids);
    const out = new Map<string, Prediction>();
    for (const m of this.predictions.messages) {
      if (m.key && wanted.has(m.key) && !out.has(m.key)) out.set(m.key, await this.codec.decode('prediction', m.value));
    }
    return [...out.values()];
  }

  /** The service's /metrics samples (the same ones Prometheus and the gateway's page read). */
  async metrics(app: string): Promise<PromSample[]> {
    return parsePromText(await (await fetch(`${this.service(app).url}/metrics`)).text());
  }

  async stop(): Promise<void> {
    await Promise.all(this.services.map((s) => stopService(s)));
    await this.predictions?.disconnect();
    await this.producer?.disconnect();
  }
}

/**
 * How many threads of the inference process run the model on a CPU: each session's intra-op threads
 * (README, ORT_SESSIONS), and the latency session's, which has them all (ORT_LATENCY_SESSION).
 */
export function modelThreadCount(config: AppConfig, cores: number): number {
  const plan = cpuPlan(cores, config.inference.sessions, config.inference.intraOpThreads);
  // 0 threads: onnxruntime's own choice for a lone session, one per core.
  const split = plan.sessions * (plan.intraOpThreads || cores);
  return split + latencySessionThreads(plan, config.inference.latencySession);
}

/** Steady texts/s of a run, from the predictions' own timestamps (start-up time excluded). */
export function rateOf(predictions: Prediction[], from: 'createdAt' | 'tokenizedAt'): number {
  const start = Math.min(...predictions.map((p) => p[from]));
  const end = Math.max(...predictions.map((p) => p.predictedAt));
  return predictions.length / Math.max(0.001, (end - start) / 1000);
}

/**
 * Figures of the inference service's metrics between two scrapes: mean batch size, token efficiency,
 * mean model run, and end-to-end quantiles (histogram_quantile over the buckets' increase).
 */
export function metricsBetween(before: PromSample[], after: PromSample[]) {
  const d = (name: string, match: Record<string, string> = {}) =>
    sumOf(after, name, match) - sumOf(before, name, match);
  const inference = { stage: 'inference' };
  const bounds = [
    ...new Set(after.filter((s) => s.name === 'pipeline_end_to_end_seconds_bucket').map((s) => s.labels.le)),
  ]
    .filter((le) => le !== '+Inf')
    .map(Number)
    .sort((a, b) => a - b);
  const total = d('pipeline_end_to_end_seconds_count');
  const quantileMs = (q: number) => {
    let lower = 0;
    let below = 0;
    for (const le of bounds) {
      const count = d('pipeline_end_to_end_seconds_bucket', { le: String(le) });
      if (count >= q * total && count > below)
        return 1000 * (lower + ((le - lower) * (q * total - below)) / (count - below));
      lower = le;
      below = count;
    }
    return 1000 * lower;
  };
  return {
    mean_batch_size: d('batch_size_sum', inference) / d('batch_size_count', inference),
    token_efficiency: d('batch_real_tokens_sum', inference) / d('batch_padded_tokens_sum', inference),
    mean_model_run_ms: (1000 * d('model_run_seconds_sum', inference)) / d('model_run_seconds_count', inference),
    e2e_p50_ms: total > 0 ? quantileMs(0.5) : NaN,
    e2e_p99_ms: total > 0 ? quantileMs(0.99) : NaN,
  };
}

export function meanBatchSize(predictions: Prediction[]): number {
  return predictions.reduce((s, p) => s + p.batchSize, 0) / predictions.length;
}

/** Sync POST /predict from `concurrency` clients; latencies in ms. */
export async function httpLoad(
  url: string,
  texts: string[],
  concurrency: number,
): Promise<{ latencies: number[]; seconds: number; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < texts.length; i = next++) {
        const t0 = performance.now();
        const res = await postJson(`${url}/predict`, { text: texts[i] });
        if (res.status === 200) latencies.push(performance.now() - t0);
        else errors++;
      }
    }),
  );
  return { latencies, seconds: (Date.now() - started) / 1000, errors };
}

/** Produces at a fixed rate for `seconds`; returns the ids and their send times. */
export async function producePaced(
  pipeline: BenchPipeline,
  texts: string[],
  ratePerS: number,
  seconds: number,
): Promise<{ ids: string[]; sentAt: Map<string, number> }> {
  const ids: string[] = [];
  const sentAt = new Map<string, number>();
  const tickMs = 10;
  const start = Date.now();
  let cursor = 0;
  // What is owed is computed from the elapsed time, so timer jitter never changes the rate.
  for (let elapsed = 0; elapsed < seconds * 1000; elapsed = Date.now() - start) {
    const n = Math.floor((ratePerS * elapsed) / 1000) - ids.length;
    if (n > 0) {
      const batch = Array.from({ length: n }, () => texts[cursor++ % texts.length]);
      const { ids: chunkIds, messages } = pipeline.rawMessages(batch);
      const now = Date.now();
      // Not awaited: the producer must keep the pace even when the broker is slow to ack.
      void pipeline.producer.send({ topic: pipeline.config.topics.raw, acks: -1, messages });
      chunkIds.forEach((id) => sentAt.set(id, now));
      ids.push(...chunkIds);
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  return { ids, sentAt };
}

export function latencyStats(ids: string[], pipeline: BenchPipeline, sentAt: Map<string, number>) {
  const lat = ids
    .map((id) => (pipeline.received.get(id)?.at ?? NaN) - sentAt.get(id)!)
    .filter((x) => Number.isFinite(x));
  return { p50_ms: percentile(lat, 50), p95_ms: percentile(lat, 95), p99_ms: percentile(lat, 99), count: lat.length };
}

/**
 * Where a paced run's latency goes, per hop, from the predictions' own timestamps (one clock, one
 * machine): send → tokenized (raw's produce, the preprocessor's fetch and tokenizing), tokenized →
 * predicted (tokenized's produce and fetch, the batcher's wait, the model), predicted → received
 * (predictions' produce and the reader's fetch).
 */
export async function latencyBreakdown(ids: string[], pipeline: BenchPipeline, sentAt: Map<string, number>) {
  const hops = { to_tokenized: [] as number[], to_predicted: [] as number[], to_received: [] as number[] };
  for (const p of await pipeline.decoded(ids)) {
    const sent = sentAt.get(p.id);
    const received = pipeline.received.get(p.id)?.at;
    if (sent === undefined || received === undefined) continue;
    hops.to_tokenized.push(p.tokenizedAt - sent);
    hops.to_predicted.push(p.predictedAt - p.tokenizedAt);
    hops.to_received.push(received - p.predictedAt);
  }
  return Object.fromEntries(
    Object.entries(hops).flatMap(([hop, xs]) => [
      [`${hop}_p50_ms`, percentile(xs, 50)],
      [`${hop}_p99_ms`, percentile(xs, 99)],
    ]),
  ) as Record<string, number>;
}

export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/**
 * Steady texts/s as a consumer sees it: first created → last received by the read_committed reader.
 * (In exactly-once mode predictedAt is when inference finished a record, before its transaction commits.)
 */
export function visibleRateOf(ids: string[], pipeline: BenchPipeline, predictions: Prediction[]): number {
  const start = Math.min(...predictions.map((p) => p.createdAt));
  const end = Math.max(...ids.map((id) => pipeline.received.get(id)?.at ?? NaN).filter(Number.isFinite));
  return ids.length / Math.max(0.001, (end - start) / 1000);
}

/**
 * One pipeline (preprocessor + inference) with `env` on fresh topics: the burst rate of `texts`
 * (produced at once, as (c) does) and the send → received latency at a paced `ratePerS`.
 */
export async function measurePipeline(
  texts: string[],
  env: Record<string, string>,
  paced: { ratePerS: number; seconds: number },
): Promise<Record<string, number>> {
  const p = BenchPipeline.create(env);
  await p.connect();
  try {
    await p.start('preprocessor', 'inference');
    const ids = await p.produceRaw(texts);
    await p.waitAll(ids, 600_000);
    const preds = await p.decoded(ids);
    const light = await producePaced(p, texts, paced.ratePerS, paced.seconds);
    await p.waitAll(light.ids, 120_000);
    const latency = latencyStats(light.ids, p, light.sentAt);
    return {
      texts_per_s: rateOf(preds, 'createdAt'),
      visible_texts_per_s: visibleRateOf(ids, p, preds),
      paced_rate_per_s: paced.ratePerS,
      paced_e2e_p50_ms: latency.p50_ms,
      paced_e2e_p99_ms: latency.p99_ms,
    };
  } finally {
    await p.stop();
  }
}

/**
 * Part (b): the inference service alone (started on `p`), warmed up, then fed `texts` tokenized all at
 * once; its rate from the predictions' own timestamps (first → last predicted, so start-up is not
 * counted) and its batching from its /metrics.
 */
export async function serviceRun(p: BenchPipeline, texts: string[], warmTexts: string[]) {
  const timed = p.tokenizedMessages(texts);
  await p.warmUp(warmTexts, 'tokenized');
  const before = await p.metrics('inference');
  await p.sendTokenized(timed.messages);
  await p.waitAll(timed.ids, 600_000);
  const at = (await p.decoded(timed.ids)).map((x) => x.predictedAt);
  const span = (Math.max(...at) - Math.min(...at)) / 1000;
  const m = metricsBetween(before, await p.metrics('inference'));
  return {
    texts_per_s: at.length / Math.max(span, 0.001),
    token_efficiency: m.token_efficiency,
    mean_batch_size: m.mean_batch_size,
    mean_model_run_ms: m.mean_model_run_ms,
  };
}
