import { readFileSync } from 'node:fs';
import { createServer, IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { AvroCodec, SchemaRegistryAdapter } from '@app/avro';
import { loadConfig } from '@app/config';
import { createKafka, dlqTopicFor } from '@app/kafka';
import { parsePromText } from '@app/observability';
import {
  AppName,
  isolatedEnv,
  ReadMessage,
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
import { Kafka, Producer } from 'kafkajs';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

const traceparentOf = (m: ReadMessage | undefined): string => {
  const value = m?.headers.traceparent;
  return (Array.isArray(value) ? value[0] : value)?.toString() ?? '';
};
const traceIdOf = (m: ReadMessage | undefined): string | undefined => TRACEPARENT.exec(traceparentOf(m))?.[1];

/** The metric names a PromQL expression reads (functions, keywords, labels and durations left out). */
function promqlMetricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const keywords = new Set(['bool', 'and', 'or', 'unless', 'offset']);
  return [...bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)]
    .filter((m) => !/^\s*\(/.test(bare.slice(m.index + m[0].length)))
    .map((m) => m[0])
    .filter((name) => !keywords.has(name));
}

describe('observability end to end: traces through the Kafka headers, metrics, logs, the dashboard', () => {
  const env = isolatedEnv({ METRICS_LAG_INTERVAL_MS: '500', PREDICT_TIMEOUT_MS: '30000' });
  const config = loadConfig({ ...process.env, ...env });
  let services: Record<AppName, RunningService>;
  let kafka: Kafka;
  let producer: Producer;
  let codec: AvroCodec;
  const readers: Record<'raw' | 'tokenized' | 'predictions' | 'rawDlq', TopicReader> = {} as never;

  beforeAll(async () => {
    services = await startPipeline(env);
    kafka = createKafka(config.kafka.brokers, 'e2e-observability');
    producer = kafka.producer({ idempotent: true });
    await producer.connect();
    codec = new AvroCodec(new SchemaRegistryAdapter(config.registry.url), {
      raw: config.topics.raw,
      tokenized: config.topics.tokenized,
      prediction: config.topics.predictions,
    });
    await codec.registerAll();
    readers.raw = await new TopicReader(kafka, config.topics.raw).start();
    readers.tokenized = await new TopicReader(kafka, config.topics.tokenized).start();
    readers.predictions = await new TopicReader(kafka, config.topics.predictions).start();
    readers.rawDlq = await new TopicReader(kafka, dlqTopicFor(config.topics.raw)).start();
  });

  afterAll(async () => {
    await Promise.all(Object.values(readers).map((r) => r.disconnect()));
    await producer?.disconnect();
    await Promise.all(Object.values(services ?? {}).map((s) => stopService(s)));
  });

  const post = async (text: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${services.gateway.url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ text }),
    });
    expect(res.status).toBe(200);
    return { body: (await res.json()) as { id: string }, requestId: res.headers.get('x-request-id') };
  };

  const recordsOf = async (id: string) => {
    await Promise.all([readers.raw, readers.tokenized, readers.predictions].map((r) => r.waitForKeys([id], 30_000)));
    return [readers.raw, readers.tokenized, readers.predictions].map((r) => r.messages.find((m) => m.key === id));
  };

  it("honours a client's traceparent: its trace id is on the raw, tokenized and prediction records", async () => {
    const clientTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const clientSpan = '00f067aa0ba902b7';
    const { body } = await post('a traced text', { traceparent: `00-${clientTrace}-${clientSpan}-01` });
    const records = await recordsOf(body.id);
    expect(records.map(traceIdOf)).toEqual([clientTrace, clientTrace, clientTrace]);
    // Each hop is a span of its own: the parent span id changes from record to record.
    const spans = records.map((m) => TRACEPARENT.exec(traceparentOf(m))?.[2]);
    expect(new Set([clientSpan, ...spans]).size).toBe(4);
  });

  it('starts one trace per request when the client sends none', async () => {
    const first = await post('an untraced text');
    const second = await post('another untraced text');
    const a = (await recordsOf(first.body.id)).map(traceIdOf);
    const b = (await recordsOf(second.body.id)).map(traceIdOf);
    expect(a[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(a[0]).not.toBe('0'.repeat(32));
    expect(new Set(a).size).toBe(1);
    expect(new Set(b).size).toBe(1);
    expect(b[0]).not.toBe(a[0]);
  });

  it('starts the trace at the first stage for a producer that sends none, and carries it onto DLQ records', async () => {
    const id = `plain-${uniqueSuffix()}`;
    await producer.send({
      topic: config.topics.raw,
      messages: [
        {
          key: id,
          value: codec.encode('raw', {
            id,
            text: 'from a plain producer',
            createdAt: Date.now(),
            source: 'e2e',
            metadata: {},
          }),
        },
        { key: `junk-${id}`, value: Buffer.from('not avro at all') },
      ],
    });
    await readers.predictions.waitForKeys([id], 30_000);
    const tokenized = readers.tokenized.messages.find((m) => m.key === id);
    const prediction = readers.predictions.messages.find((m) => m.key === id);
    expect(traceIdOf(tokenized)).toMatch(/^[0-9a-f]{32}$/);
    expect(traceIdOf(prediction)).toBe(traceIdOf(tokenized));
    await readers.rawDlq.waitForKeys([`junk-${id}`], 30_000);
    const dead = readers.rawDlq.messages.find((m) => m.key === `junk-${id}`);
    expect(traceIdOf(dead)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('logs JSON lines with the request id and the trace id', async () => {
    const clientTrace = 'a'.repeat(31) + 'b';
    const { requestId } = await post('a logged text', { traceparent: `00-${clientTrace}-${'c'.repeat(16)}-01` });
    const log = join(ROOT, '.e2e', 'logs', `gateway-${services.gateway.port}.log`);
    const line = await waitFor(
      () =>
        readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((l) => l.traceId === clientTrace),
      { timeoutMs: 10_000, description: 'the request line in the gateway log' },
    );
    expect(line).toMatchObject({ requestId, service: 'gateway', req: { method: 'POST', url: '/predict' } });
    // The junk record of the previous test was logged by the preprocessor with its trace id.
    const pre = readFileSync(join(ROOT, '.e2e', 'logs', `preprocessor-${services.preprocessor.port}.log`), 'utf8')
      .split('\n')
      .filter((l) => l.includes('dead-lettering'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(pre[0]).toMatchObject({ level: 40, requestId: expect.stringMatching(/^junk-/) });
    expect(pre[0].traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  const scrape = async (app: AppName) => (await fetch(`${services[app].url}/metrics`)).text();

  it('exposes typed metrics that moved: records in and out, latency histograms, batches, lag, HTTP', async () => {
    const inference = parsePromText(await scrape('inference'));
    const value = (name: string, labels: Record<string, string> = {}) =>
      inference
        .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        .reduce((a, s) => a + s.value, 0);
    expect(value('stage_records_out_total', { stage: 'inference' })).toBeGreaterThanOrEqual(5);
    expect(value('pipeline_end_to_end_seconds_count')).toBeGreaterThanOrEqual(5);
    expect(value('batch_size_count', { stage: 'inference' })).toBeGreaterThanOrEqual(1);
    expect(value('batch_padded_tokens_sum')).toBeGreaterThanOrEqual(value('batch_real_tokens_sum'));
    await waitFor(
      async () =>
        parsePromText(await scrape('inference')).some(
          (s) => s.name === 'kafka_consumer_lag' && s.labels.topic === config.topics.tokenized,
        ),
      { timeoutMs: 10_000, description: 'kafka_consumer_lag of the tokenized topic' },
    );
    const pre = parsePromText(await scrape('preprocessor'));
    expect(
      pre.find((s) => s.name === 'stage_records_dead_lettered_total' && s.labels.stage === 'preprocessor')?.value,
    ).toBeGreaterThanOrEqual(1);
    const gateway = await scrape('gateway');
    expect(gateway).toMatch(
      /^http_request_duration_seconds_count\{method="POST",route="\/predict",status="200"\} \d+/m,
    );
    expect(gateway).toMatch(/^# TYPE http_request_duration_seconds histogram$/m);
  });

  it('every metric the Grafana dashboard queries exists in /metrics', async () => {
    const dashboard = JSON.parse(
      readFileSync(join(ROOT, 'deploy', 'grafana', 'kafka-text-classifier.json'), 'utf8'),
    ) as { panels: { title: string; targets: { expr: string }[] }[] };
    const exposed = new Set<string>();
    for (const app of ['gateway', 'preprocessor', 'inference'] as const) {
      const text = await scrape(app);
      for (const s of parsePromText(text)) exposed.add(s.name);
      for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        exposed.add(m[1]);
        if (m[2] === 'histogram') for (const sfx of ['_bucket', '_sum', '_count']) exposed.add(m[1] + sfx);
      }
    }
    // `up` is Prometheus's own series about each scrape.
    exposed.add('up');
    const queried = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => promqlMetricNames(t.expr)));
    expect(queried.length).toBeGreaterThan(10);
    expect(queried.filter((name) => !exposed.has(name))).toEqual([]);
  });

  it('exports spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set', async () => {
    const posts: { path: string; bytes: number }[] = [];
    const collector = createServer((req: IncomingMessage, res) => {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => {
        posts.push({ path: req.url ?? '', bytes });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((res) => collector.listen(0, res));
    const { port } = collector.address() as { port: number };
    // A lone preprocessor on topics of its own, exporting to the collector above.
    const ownEnv = isolatedEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://localhost:${port}`,
      OTEL_BSP_SCHEDULE_DELAY: '200',
    });
    const own = loadConfig({ ...process.env, ...ownEnv });
    const preprocessor = await startService('preprocessor', ownEnv);
    try {
      await waitReady(preprocessor);
      const ownCodec = new AvroCodec(new SchemaRegistryAdapter(own.registry.url), {
        raw: own.topics.raw,
        tokenized: own.topics.tokenized,
        prediction: own.topics.predictions,
      });
      await ownCodec.registerAll();
      const id = `otlp-${uniqueSuffix()}`;
      await producer.send({
        topic: own.topics.raw,
        messages: [
          {
            key: id,
            value: ownCodec.encode('raw', {
              id,
              text: 'exported',
              createdAt: Date.now(),
              source: 'e2e',
              metadata: {},
            }),
          },
        ],
      });
      await waitFor(() => posts.some((p) => p.path === '/v1/traces' && p.bytes > 0), {
        timeoutMs: 30_000,
        description: 'a POST of spans to /v1/traces',
      });
    } finally {
      await stopService(preprocessor);
      collector.close();
    }
  });
});
