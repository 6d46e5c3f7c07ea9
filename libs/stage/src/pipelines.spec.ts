import { Logger } from '@nestjs/common';
import { AvroSerializer, InboundRecord, RawText, TokenizedText } from '@app/avro';
import { AbandonedError, readDlqHeaders, TransactionalOutputs } from '@app/kafka';
import { MetricsService, StageTracer } from '@app/observability';
import {
  deferred,
  FakeClock,
  FakeProducer,
  FakeTransactionBroker,
  rawText,
  registeredCodec,
  tokenizedText,
} from '@app/testing';
import { OutputWriter } from './output-writer';
import { BatchPipeline, Decoded, RecordPipeline } from './pipelines';
import type { BatchHandler, RecordHandler } from './stage.types';

const quiet = () => {
  const logger = new Logger('test');
  jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  return logger;
};
const route = (topic: string, partition: string) => ({
  'reply-topic': Buffer.from(topic),
  'reply-partition': Buffer.from(partition),
});
const all = (replies: Promise<void>[]) => Promise.all(replies).then(() => undefined);
const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

function decoded<K extends 'raw' | 'tokenized'>(
  record: K extends 'raw' ? RawText : TokenizedText,
  offset: number,
  headers: Record<string, Buffer> = {},
) {
  const inbound = {
    topic: 'in',
    partition: 0,
    offset: String(offset),
    key: Buffer.from(record.id),
    value: Buffer.from('bytes'),
    headers,
    decoded: { ok: true, record },
  } as unknown as InboundRecord<K>;
  const span = new StageTracer('test').startRecord({}, { topic: 'in', partition: 0, offset: String(offset) });
  return { inbound, record, span } as Decoded<K>;
}

async function context<Out extends 'tokenized' | 'prediction'>(output: Out, stage: string) {
  const { codec } = await registeredCodec();
  const producer = new FakeProducer();
  const clock = new FakeClock();
  const metrics = new MetricsService();
  const writer = new OutputWriter(producer.asAdapter(), {
    stage,
    dlqTopic: 'in.dlq',
    dlqTruncatedValueBytes: 1024,
    logger: quiet(),
    clock,
  });
  return {
    producer,
    metrics,
    ctx: {
      stage,
      outputTopic: 'out',
      serializer: new AvroSerializer(codec, output),
      writer,
      metrics,
      tracer: new StageTracer(stage),
      clock,
      endToEnd: true,
    },
  };
}

describe('RecordPipeline', () => {
  const handler: RecordHandler<'raw', 'tokenized'> = {
    mode: 'record',
    handle: (raw) => {
      if (raw.text === 'bad') throw new Error('cannot tokenize');
      return tokenizedText({ id: raw.id });
    },
  };

  it('writes one output per record and dead-letters the records the handler refuses', async () => {
    const { producer, ctx, metrics } = await context('tokenized', 'preprocessor');
    const pipeline = new RecordPipeline(handler, ctx);
    const good = rawText();
    const bad = rawText({ text: 'bad' });
    await all(pipeline.submit([decoded<'raw'>(good, 0), decoded<'raw'>(bad, 1)]));
    expect(producer.messages('out').map((m) => m.key)).toEqual([good.id]);
    const [dead] = producer.messages('in.dlq');
    expect(readDlqHeaders(dead.headers)).toMatchObject({
      stage: 'preprocessor',
      offset: '1',
      errorMessage: 'cannot tokenize',
    });
    expect(await metrics.render()).toContain('stage_records_out_total{stage="preprocessor"} 1');
  });

  it("carries the input's reply route onto its output next to its own traceparent, and writes no reply itself", async () => {
    const { producer, ctx } = await context('tokenized', 'preprocessor');
    const pipeline = new RecordPipeline(handler, ctx);
    const routed = decoded<'raw'>(rawText(), 0, route('replies', '1'));
    const plain = decoded<'raw'>(rawText(), 1, {
      traceparent: Buffer.from('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'),
    });
    await all(pipeline.submit([routed, plain]));
    const [out, plainOut] = producer.messages('out');
    expect(out.headers).toMatchObject({ 'reply-topic': 'replies', 'reply-partition': '1' });
    expect(String(out.headers?.traceparent).split('-')[1]).toBe(routed.span.spanContext().traceId);
    expect(Object.keys(plainOut.headers ?? {})).toEqual(['traceparent']);
    expect(producer.messages('replies')).toHaveLength(0);
  });
});

describe('BatchPipeline', () => {
  function model(concurrency = 1) {
    const runs: { records: TokenizedText[]; finish: (error?: Error) => void }[] = [];
    const handler: BatchHandler<'tokenized', 'prediction'> = {
      mode: 'batch',
      concurrency,
      lengthOf: (r) => r.inputIds.length,
      reject: (r) => (r.inputIds.includes(-1) ? new Error('token id -1 is outside the vocabulary') : undefined),
      run: (records) => {
        const done = deferred<void>();
        runs.push({ records, finish: (error) => (error ? done.reject(error) : done.resolve()) });
        return done.promise.then(() =>
          records.map((r) => ({
            ...r,
            label: 'ham',
            score: 1,
            scores: { ham: 1 },
            model: 'm',
            modelVersion: '1',
            predictedAt: 0,
            batchSize: records.length,
          })),
        );
      },
    };
    return { handler, runs };
  }
  const limits = { maxSize: 2, maxWaitMs: 0, maxTokens: 1000 };

  it('runs batches and answers each record only once its prediction is acknowledged', async () => {
    const { producer, ctx } = await context('prediction', 'inference');
    const { handler, runs } = model();
    const pipeline = new BatchPipeline(handler, limits, ctx);
    const records = [tokenizedText(), tokenizedText(), tokenizedText()];
    let answered = false;
    const done = all(pipeline.submit(records.map((r, i) => decoded<'tokenized'>(r, i)))).then(() => (answered = true));
    await flush();
    expect(runs.map((r) => r.records.length)).toEqual([2]);
    runs[0].finish();
    await flush();
    expect(runs.map((r) => r.records.length)).toEqual([2, 1]); // the session took the next batch
    expect(answered).toBe(false);
    runs[1].finish();
    await done;
    expect(
      producer
        .messages('out')
        .map((m) => m.key)
        .sort(),
    ).toEqual(records.map((r) => r.id).sort());
  });

  it("carries each record's trace onto its output and observes the batch in the metrics", async () => {
    const { producer, ctx, metrics } = await context('prediction', 'inference');
    const { handler, runs } = model();
    const pipeline = new BatchPipeline(handler, limits, ctx);
    const inputs = [tokenizedText({ inputIds: [1, 2, 3] }), tokenizedText({ inputIds: [1] })].map((r, i) =>
      decoded<'tokenized'>(r, i),
    );
    const done = all(pipeline.submit(inputs));
    await flush();
    runs[0].finish();
    await done;
    const traceOf = (id: string) => {
      const header = producer.messages('out').find((m) => m.key === id)?.headers?.traceparent;
      return String(header).split('-')[1];
    };
    for (const input of inputs) expect(traceOf(input.record.id)).toBe(input.span.spanContext().traceId);
    const text = await metrics.render();
    expect(text).toContain('batch_size_count{stage="inference"} 1');
    expect(text).toContain('batch_size_sum{stage="inference"} 2');
    expect(text).toContain(`batch_real_tokens_sum{stage="inference"} ${inputs[0].record.inputIds.length + 1}`);
    expect(text).toContain(`batch_padded_tokens_sum{stage="inference"} ${2 * inputs[0].record.inputIds.length}`);
    expect(text).toContain('stage_records_out_total{stage="inference"} 2');
    expect(text).toMatch(/^pipeline_end_to_end_seconds_count 2$/m);
  });

  it('with replies on, also writes each routed output to its partition of the replies topic, and only then answers', async () => {
    const { producer, ctx } = await context('prediction', 'inference');
    const { handler, runs } = model();
    const pipeline = new BatchPipeline(
      handler,
      { ...limits, maxSize: 3 },
      { ...ctx, replies: { topic: 'replies', partitions: 4 } },
    );
    const routed = decoded<'tokenized'>(tokenizedText(), 0, route('replies', '3'));
    const plain = decoded<'tokenized'>(tokenizedText(), 1);
    const elsewhere = decoded<'tokenized'>(tokenizedText(), 2, route('raw', '0'));
    let repliesDown = true;
    producer.failWith((topic) => (topic === 'replies' && repliesDown ? new Error('leader not available') : undefined));
    let answered = false;
    const done = all(pipeline.submit([routed, plain, elsewhere])).then(() => (answered = true));
    await flush();
    runs[0].finish();
    await flush();
    // The predictions are acknowledged; the reply is not yet: the record is not answered (not committed).
    expect(producer.messages('out')).toHaveLength(3);
    expect(answered).toBe(false);
    repliesDown = false;
    await done;
    const replies = producer.sent.filter((s) => s.topic === 'replies').flatMap((s) => s.messages);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ key: routed.record.id, partition: 3 });
    const prediction = producer.messages('out').find((m) => m.key === routed.record.id)!;
    expect(replies[0].value).toEqual(prediction.value);
    expect(String(replies[0].headers?.traceparent)).toBe(String(prediction.headers?.traceparent));
    // The route is spent: neither the prediction nor the reply carries it on.
    expect(Object.keys(prediction.headers ?? {})).toEqual(['traceparent']);
  });

  it('dead-letters what the handler rejects, before batching', async () => {
    const { producer, ctx } = await context('prediction', 'inference');
    const { handler, runs } = model();
    const pipeline = new BatchPipeline(handler, limits, ctx);
    await all(pipeline.submit([decoded<'tokenized'>(tokenizedText({ inputIds: [101, -1] }), 4)]));
    expect(runs).toHaveLength(0);
    expect(readDlqHeaders(producer.messages('in.dlq')[0].headers).errorMessage).toMatch(/outside the vocabulary/);
  });

  it('fails the records of a batch whose run failed (they are read again), and keeps serving', async () => {
    const { ctx } = await context('prediction', 'inference');
    const { handler, runs } = model();
    const pipeline = new BatchPipeline(handler, { ...limits, maxSize: 1 }, ctx);
    const first = all(pipeline.submit([decoded<'tokenized'>(tokenizedText(), 0)]));
    await flush();
    runs[0].finish(new Error('worker died'));
    await expect(first).rejects.toThrow('worker died');
    const second = all(pipeline.submit([decoded<'tokenized'>(tokenizedText(), 1)]));
    await flush();
    runs[1].finish();
    await expect(second).resolves.toBeUndefined();
  });

  it('abandonQueued() drops what has not started (AbandonedError) and lets the running batch finish', async () => {
    const { producer, ctx } = await context('prediction', 'inference');
    const { handler, runs } = model();
    const pipeline = new BatchPipeline(handler, limits, ctx);
    const running = all(pipeline.submit([decoded<'tokenized'>(tokenizedText(), 0)]));
    await flush();
    const queued = all(pipeline.submit([decoded<'tokenized'>(tokenizedText(), 1)]));
    pipeline.abandonQueued();
    await expect(queued).rejects.toBeInstanceOf(AbandonedError);
    runs[0].finish();
    await expect(running).resolves.toBeUndefined();
    await flush();
    expect(runs).toHaveLength(1);
    expect(producer.messages('out')).toHaveLength(1);
  });

  it('runs up to `concurrency` batches side by side', async () => {
    const { ctx } = await context('prediction', 'inference');
    const { handler, runs } = model(2);
    const pipeline = new BatchPipeline(handler, { ...limits, maxSize: 1 }, ctx);
    void all(pipeline.submit([0, 1, 2].map((i) => decoded<'tokenized'>(tokenizedText(), i))));
    await flush();
    expect(runs).toHaveLength(2);
  });

  it('trimQueued() drops only the queued records no started record of their partition has overtaken', async () => {
    const { ctx } = await context('prediction', 'inference');
    const { handler, runs } = model();
    const pipeline = new BatchPipeline(handler, { maxSize: 2, maxWaitMs: 0, maxTokens: 1000 }, ctx);
    // Offsets 0..4 of one partition: 0 runs alone; then the window around the oldest (1) takes 1 and 3.
    const records = [3, 10, 2, 10, 2].map((n) => tokenizedText({ inputIds: Array(n).fill(5) }));
    const replies = pipeline.submit(records.slice(0, 1).map((r) => decoded<'tokenized'>(r, 0)));
    await flush();
    ctx.clock.advance(1);
    const rest = pipeline.submit([decoded<'tokenized'>(records[1], 1)]);
    ctx.clock.advance(1);
    rest.push(...pipeline.submit(records.slice(2).map((r, i) => decoded<'tokenized'>(r, i + 2))));
    runs[0].finish();
    await flush();
    expect(runs[1].records.map((r) => r.id)).toEqual([records[1].id, records[3].id]);
    // 2 sits below the started 3: it must run. 4 is after every started record: dropped for free.
    pipeline.trimQueued();
    await expect(rest[3]).rejects.toBeInstanceOf(AbandonedError);
    runs[1].finish();
    await flush();
    expect(runs[2].records.map((r) => r.id)).toEqual([records[2].id]);
    runs[2].finish();
    await expect(all([...replies, rest[0], rest[1], rest[2]])).resolves.toBeUndefined();
  });

  it('exactly-once: a record of a partition given up mid-run is dropped alone; the rest of its batch is staged and committed', async () => {
    const { ctx } = await context('prediction', 'inference');
    const broker = new FakeTransactionBroker();
    const outputs = new TransactionalOutputs({
      groupId: 'g-inference',
      createProducer: (id) => broker.producer(id),
      committedOffset: (topic, partition) => Promise.resolve(broker.committedOffset('g-inference', topic, partition)),
      logger: quiet(),
      onFenced: () => undefined,
    });
    const writer = new OutputWriter(new FakeProducer().asAdapter(), {
      stage: 'inference',
      dlqTopic: 'in.dlq',
      dlqTruncatedValueBytes: 1024,
      logger: quiet(),
      clock: ctx.clock,
      transactional: outputs,
    });
    outputs.assign([0, 1].map((partition) => ({ topic: 'in', partition })));
    const { handler, runs } = model();
    const pipeline = new BatchPipeline(handler, limits, { ...ctx, writer });
    const kept = decoded<'tokenized'>(tokenizedText(), 7);
    const lost = decoded<'tokenized'>(tokenizedText(), 3);
    Object.assign(lost.inbound, { partition: 1 });
    for (const d of [kept, lost]) outputs.claimFor('in', d.inbound.partition)!.add(d.inbound);
    const [keptReply, lostReply] = pipeline.submit([kept, lost]);
    await flush();
    expect(runs[0].records).toHaveLength(2); // one batch, both partitions
    // A rebalance takes partition 1 away while the batch runs.
    outputs.assign([{ topic: 'in', partition: 0 }]);
    runs[0].finish();

    await expect(lostReply).rejects.toBeInstanceOf(AbandonedError);
    // Partition 0's record is answered (its commit can move on) and its output commits with the offset.
    await expect(keptReply).resolves.toBeUndefined();
    await outputs.commit([{ topic: 'in', partition: 0, offset: '8' }]);
    expect(broker.committed('out').map((m) => m.key?.toString())).toEqual([kept.record.id]);
    expect(broker.committedOffset('g-inference', 'in', 0)).toBe('8');
  });
});
