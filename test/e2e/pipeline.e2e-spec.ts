import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { AvroCodec, RawText, SchemaRegistryAdapter, TokenizedText } from '@app/avro';
import { loadConfig } from '@app/config';
import { createKafka, dlqTopicFor, readDlqHeaders } from '@app/kafka';
import { loadModelInfo, OnnxClassifier, softmax } from '@app/model';
import {
  AppName,
  isolatedEnv,
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
import { TextTokenizer } from '@app/tokenizer';
import { Kafka, Partitioners, Producer } from 'kafkajs';

// The default model's held-out test split (tools/model/build_news_model.py): THUCNews titles and BBC
// title + lead texts, never seen in training.
const testSplit = readFileSync(join(ROOT, 'test/fixtures/model/bge-small-zh-news/test-split.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => JSON.parse(line) as { text: string; label: string; dataset: string });

describe('the pipeline, end to end, as three services on a real Kafka and registry', () => {
  const env = isolatedEnv({ MAX_TEXT_BYTES: '65536', MAX_BODY_BYTES: '4194304', PREDICT_TIMEOUT_MS: '30000' });
  const config = loadConfig({ ...process.env, ...env });
  let services: Record<AppName, RunningService>;
  let kafka: Kafka;
  let producer: Producer;
  let codec: AvroCodec;
  let predictions: TopicReader;

  beforeAll(async () => {
    services = await startPipeline(env);
    kafka = createKafka(config.kafka.brokers, 'e2e');
    producer = kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    codec = new AvroCodec(new SchemaRegistryAdapter(config.registry.url), {
      raw: config.topics.raw,
      tokenized: config.topics.tokenized,
      prediction: config.topics.predictions,
    });
    await codec.registerAll();
    predictions = await new TopicReader(kafka, config.topics.predictions).start();
  });

  afterAll(async () => {
    await predictions?.disconnect();
    await producer?.disconnect();
    await Promise.all(Object.values(services ?? {}).map((s) => stopService(s)));
  });

  const rawRecord = (text: string, id = `id-${uniqueSuffix()}`): RawText => ({
    id,
    text,
    createdAt: Date.now(),
    source: 'e2e',
    metadata: { case: 'e2e' },
  });

  it('answers the original design call: POST /predict {"text": "这是一个政治新闻。"} → category 政治', async () => {
    const res = await postJson(`${services.gateway.url}/predict`, { text: '这是一个政治新闻。' });
    expect(res.status).toBe(200);
    expect(res.body.category).toBe('政治');
    expect(res.body.label).toBe('政治');
    expect(res.body.model).toBe('bge-small-zh-news');
    expect(res.body.score).toBe(res.body.scores['政治']);
    expect(Object.values(res.body.scores as Record<string, number>).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(typeof res.body.id).toBe('string');
  });

  it('gives, for 200 held-out titles, exactly the labels and scores of the model run directly, alone or batched', async () => {
    const sample = [
      ...testSplit.filter((s) => s.dataset === 'thucnews').slice(0, 150),
      ...testSplit.filter((s) => s.dataset === 'bbc').slice(0, 50),
    ];
    expect(sample).toHaveLength(200);
    const info = loadModelInfo(config.model.dir);
    const tokenizer = TextTokenizer.fromFile(info.tokenizerPath, info.maxLength);
    const classifier = await OnnxClassifier.create(info, { ...config.inference, device: 'cpu' });
    const direct: { label: string; score: number }[] = [];
    for (const { text } of sample) {
      const { logits } = await classifier.run([tokenizer.encode(text).inputIds]);
      const k = logits[0].indexOf(Math.max(...logits[0]));
      direct.push({ label: info.labels[k], score: softmax(logits[0])[k] });
    }
    await classifier.release();

    // One request at a time: an idle inference service runs a lone record at once (batch size 1).
    const viaGateway: string[] = [];
    for (const { text } of sample.slice(0, 50)) {
      const res = await postJson(`${services.gateway.url}/predict`, { text });
      expect(res.status).toBe(200);
      expect(res.body.batchSize).toBe(1);
      viaGateway.push(res.body.category);
    }
    expect(viaGateway).toEqual(direct.slice(0, 50).map((d) => d.label));

    // All at once they run in micro-batches of mixed lengths. The model computes in fp32 (weight-only
    // int8 storage), so a text's answer does not depend on its companions: same labels, and scores
    // equal to fp32 rounding (a probability moves by at most the logits' 1e-4 batching bound).
    const res = await postJson(`${services.gateway.url}/v1/predict`, { texts: sample.map((s) => s.text) });
    expect(res.status).toBe(200);
    const batched = res.body.predictions as { category: string; label: string; score: number; batchSize: number }[];
    expect(Math.max(...batched.map((p) => p.batchSize))).toBeGreaterThan(1);
    expect(batched.map((p) => p.category)).toEqual(direct.map((d) => d.label));
    batched.forEach((p, i) => expect(Math.abs(p.score - direct[i].score)).toBeLessThan(1e-4));
    // And the model is right on most of them (the card reports the full test split).
    const correct = batched.filter((p, i) => p.category === sample[i].label).length;
    expect(correct / sample.length).toBeGreaterThan(0.85);
  });

  it('accepts texts asynchronously on POST /v1/texts; their predictions appear on the topic', async () => {
    const res = await postJson(`${services.gateway.url}/v1/texts`, { texts: ['first text', 'second text'] });
    expect(res.status).toBe(202);
    expect(res.body.ids).toHaveLength(2);
    await predictions.waitForKeys(res.body.ids, 60_000);
  });

  it.each([
    ['not JSON', '{"text": ', 400, 'invalid_json'],
    ['no text', {}, 400, 'invalid_input'],
    ['text not a string', { text: 42 }, 400, 'invalid_input'],
    ['empty text', { text: '   ' }, 400, 'invalid_input'],
    ['text over MAX_TEXT_BYTES', { text: 'x'.repeat(65537) }, 400, 'invalid_input'],
    ['body over MAX_BODY_BYTES', { texts: Array(70).fill('y'.repeat(65_000)) }, 413, 'payload_too_large'],
  ])('refuses %s over HTTP with a named error', async (_case, body, status, code) => {
    const res = await postJson(`${services.gateway.url}/predict`, body);
    expect(res.status).toBe(status);
    expect(res.body.error).toBe(code);
    expect(typeof res.body.message).toBe('string');
    expect(res.body.message.length).toBeGreaterThan(5);
  });

  it('dead-letters every kind of bad raw record with its reason, and keeps processing', async () => {
    const dlq = await new TopicReader(kafka, dlqTopicFor(config.topics.raw)).start();
    try {
      const good = rawRecord('a perfectly ordinary message after the bad ones');
      const unknownId = codec.encode('raw', rawRecord('x'));
      unknownId.writeUInt32BE(1_999_999_999, 1);
      const prediction = codec.encode('prediction', {
        id: 'p',
        label: 'ham',
        score: 1,
        scores: { ham: 1 },
        model: 'm',
        modelVersion: 'v',
        createdAt: 1,
        tokenizedAt: 1,
        predictedAt: 1,
        batchSize: 1,
        truncated: false,
        source: null,
        metadata: {},
      });
      const bad: [string, Buffer, string][] = [
        ['not-avro', Buffer.from('{"text":"plain json"}'), 'InvalidWireFormatError'],
        ['unknown-id', unknownId, 'UnknownSchemaIdError'],
        ['wrong-shape', prediction, 'IncompatibleRecordError'],
        ['empty-text', codec.encode('raw', rawRecord('')), 'InvalidTextError'],
        ['too-long', codec.encode('raw', rawRecord('z'.repeat(65537))), 'InvalidTextError'],
      ];
      // One partition for all, so "the next good record" really comes after the bad ones.
      await producer.send({
        topic: config.topics.raw,
        acks: -1,
        messages: [
          ...bad.map(([key, value]) => ({ key, value, partition: 0 })),
          { key: good.id, value: codec.encode('raw', good), partition: 0 },
        ],
      });
      await predictions.waitForKeys([good.id], 60_000);
      await dlq.waitForKeys(
        bad.map(([key]) => key),
        30_000,
      );
      for (const [key, value, errorClass] of bad) {
        const record = dlq.messages.find((m) => m.key === key)!;
        expect(record.value!.equals(value)).toBe(true);
        const headers = readDlqHeaders(record.headers);
        expect(headers).toMatchObject({ stage: 'preprocessor', errorClass, topic: config.topics.raw, partition: '0' });
        expect(headers.errorMessage!.length).toBeGreaterThan(5);
        expect(headers.offset).toMatch(/^\d+$/);
      }
      expect(readDlqHeaders(dlq.messages.find((m) => m.key === 'too-long')!.headers).errorMessage).toMatch(
        /MAX_TEXT_BYTES/,
      );
    } finally {
      await dlq.disconnect();
    }
  });

  it('dead-letters tokenized records whose ids are outside the vocabulary, and keeps processing', async () => {
    const dlq = await new TopicReader(kafka, dlqTopicFor(config.topics.tokenized)).start();
    try {
      const tokenized = (id: string, inputIds: number[]): TokenizedText => ({
        id,
        inputIds,
        tokenCount: inputIds.length,
        truncated: false,
        tokenizer: 'e2e',
        createdAt: Date.now(),
        tokenizedAt: Date.now(),
        source: null,
        metadata: {},
      });
      const badId = `oov-${uniqueSuffix()}`;
      const goodId = `ok-${uniqueSuffix()}`;
      await producer.send({
        topic: config.topics.tokenized,
        acks: -1,
        messages: [
          { key: badId, value: codec.encode('tokenized', tokenized(badId, [101, 9_999_999, 102])), partition: 0 },
          { key: goodId, value: codec.encode('tokenized', tokenized(goodId, [101, 7592, 102])), partition: 0 },
        ],
      });
      await predictions.waitForKeys([goodId], 60_000);
      await dlq.waitForKeys([badId], 30_000);
      const headers = readDlqHeaders(dlq.messages.find((m) => m.key === badId)!.headers);
      expect(headers).toMatchObject({ stage: 'inference', errorClass: 'InvalidTokensError' });
      expect(headers.errorMessage).toMatch(/outside the vocabulary/);
      expect(predictions.keys().has(badId)).toBe(false);
    } finally {
      await dlq.disconnect();
    }
  });

  it('delivers a prediction for each of 2,000 texts sent with `npm run produce`', async () => {
    const file = join(tmpdir(), `texts-${uniqueSuffix()}.txt`);
    const idsFile = `${file}.ids`;
    const lines = Array.from(
      { length: 2000 },
      (_, i) => testSplit[i % testSplit.length].text.replace(/\s+/g, ' ').slice(0, 600) + ` #${i}`,
    );
    writeFileSync(file, lines.join('\n') + '\n');
    const out = execFileSync('npm', ['run', '--silent', 'produce', '--', file, '--ids-out', idsFile], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(out).toBeDefined();
    const ids = readFileSync(idsFile, 'utf8').split('\n').filter(Boolean);
    expect(ids).toHaveLength(2000);
    await predictions.waitForKeys(ids, 240_000);
    // No crash happened here, so at-least-once must not have turned into "several times".
    const wanted = new Set(ids);
    const copies = predictions.messages.filter((m) => m.key !== null && wanted.has(m.key)).length;
    expect(copies).toBe(2000);
  });

  it('loses nothing when the inference process is killed with -9 mid-stream', async () => {
    const records = Array.from({ length: 2000 }, (_, i) =>
      rawRecord(`${testSplit[(i * 7) % testSplit.length].text.slice(0, 400)} kill-test ${i}`),
    );
    for (let i = 0; i < records.length; i += 500) {
      await producer.send({
        topic: config.topics.raw,
        acks: -1,
        messages: records.slice(i, i + 500).map((r) => ({ key: r.id, value: codec.encode('raw', r) })),
      });
    }
    const ids = records.map((r) => r.id);
    // Kill once some, but not all, predictions are out.
    await waitFor(() => ids.filter((id) => predictions.keys().has(id)).length >= 50, {
      timeoutMs: 120_000,
      description: 'first predictions',
    });
    services.inference.process.kill('SIGKILL');
    await services.inference.exited;
    const before = ids.filter((id) => predictions.keys().has(id)).length;
    expect(before).toBeLessThan(ids.length);

    services.inference = await startService('inference', env);
    await waitReady(services.inference);
    await predictions.waitForKeys(ids, 300_000);
  });

  it('lets two gateway instances answer 200 sync requests spread over both', async () => {
    const second = await startService('gateway', env);
    try {
      await waitReady(second);
      const gateways = [services.gateway.url, second.url];
      const results: number[] = [];
      const queue = Array.from({ length: 200 }, (_, i) => i);
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
            const res = await postJson(`${gateways[i % 2]}/predict`, { text: `${testSplit[i].text.slice(0, 300)}` });
            results.push(res.status);
          }
        }),
      );
      const byStatus = results.reduce<Record<number, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {});
      expect(byStatus).toEqual({ 200: 200 });
    } finally {
      await stopService(second);
    }
  }, 600_000);
});
