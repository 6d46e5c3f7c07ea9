import type { AvroSerializer, InboundRecord, RecordKind, RecordTypes } from '@app/avro';
import type { Clock } from '@app/config';
import { AbandonedError } from '@app/kafka';
import { endSpan, MetricsService, StageTracer, traceHeaders } from '@app/observability';
import type { Span } from '@opentelemetry/api';
import { Batcher, BatchLimits } from './batching/batcher';
import type { Message } from 'kafkajs';
import type { OutputWriter, Source } from './output-writer';
import { replyDestination, replyHeaders, ReplyTopic } from './reply-route';
import type { BatchHandler, RecordHandler } from './stage.types';

/** A decoded input record with where it came from. */
export interface Decoded<In extends RecordKind> {
  inbound: InboundRecord<In>;
  record: RecordTypes[In];
  /** The record's span in this stage: its outputs carry it on as their `traceparent`. */
  span: Span;
}

/** What happens to decoded records: one promise per record, resolved once its outputs are acknowledged. */
export interface Pipeline<In extends RecordKind> {
  submit(records: Decoded<In>[]): Promise<void>[];
  /** Drops the queued records that no later record of their partition has overtaken (AbandonedError). */
  trimQueued(): void;
  /** Drops every queued record (AbandonedError). */
  abandonQueued(): void;
}

const partitionKey = (inbound: { topic: string; partition: number }) => `${inbound.topic}\u0000${inbound.partition}`;

interface PipelineContext<Out extends RecordKind> {
  stage: string;
  outputTopic: string;
  serializer: AvroSerializer<Out>;
  writer: OutputWriter;
  metrics: MetricsService;
  tracer: StageTracer;
  clock: Clock;
  /** Observe createdAt → now for every acknowledged output (the last stage: end-to-end latency). */
  endToEnd?: boolean;
  /** The last stage: also write each output to the reply destination its input names (reply-route.ts). */
  replies?: ReplyTopic;
}

/**
 * An output's headers: this stage's span as its traceparent, and its input's reply route carried on
 * to the next stage. The stage that answers (replies on) drops the route: it is spent.
 */
const outputHeaders = (ctx: { replies?: ReplyTopic }, inbound: Source, span: Span) =>
  ctx.replies ? traceHeaders(span) : { ...replyHeaders(inbound.headers), ...traceHeaders(span) };

/** Writes the outputs onto the output topic and, where their inputs ask for one, their replies. */
function writeOutputs<Out extends RecordKind>(
  ctx: PipelineContext<Out>,
  messages: Message[],
  sources: Source[],
): Promise<void> {
  const written = ctx.writer.write(ctx.outputTopic, messages, sources);
  const { replies } = ctx;
  if (!replies) return written;
  const answers: Message[] = [];
  const answered: Source[] = [];
  messages.forEach((message, i) => {
    const to = replyDestination(sources[i].headers, replies);
    if (!to) return;
    answers.push({ ...message, partition: to.partition });
    answered.push(sources[i]);
  });
  if (answers.length === 0) return written;
  // Both in flight at once: the producer puts them in one request.
  return Promise.all([written, ctx.writer.write(replies.topic, answers, answered)]).then(() => undefined);
}

/** createdAt (ms) of an output record, when it has one. */
const createdAtOf = (record: unknown): number | undefined => {
  const at = (record as { createdAt?: unknown }).createdAt;
  return typeof at === 'number' ? at : undefined;
};

/** record → output, as records arrive (the preprocessor). */
export class RecordPipeline<In extends RecordKind, Out extends RecordKind> implements Pipeline<In> {
  constructor(
    private readonly handler: RecordHandler<In, Out>,
    private readonly ctx: PipelineContext<Out>,
  ) {}

  submit(records: Decoded<In>[]): Promise<void>[] {
    const { serializer, writer, metrics, stage } = this.ctx;
    const messages: Message[] = [];
    const sources: Source[] = [];
    const outcomes: (Promise<void> | undefined)[] = [];
    for (const { inbound, record, span } of records) {
      try {
        messages.push(serializer.serialize(this.handler.handle(record), outputHeaders(this.ctx, inbound, span)));
        sources.push(inbound);
        outcomes.push(undefined);
      } catch (error) {
        outcomes.push(writer.deadLetter(inbound, error));
      }
    }
    // One produce for the fetched chunk's outputs: the producer coalesces it with the other partitions'.
    const written = writeOutputs(this.ctx, messages, sources).then(() => {
      metrics.recordsOut.inc({ stage }, messages.length);
    });
    return outcomes.map((outcome) => outcome ?? written);
  }

  trimQueued(): void {
    // Nothing waits here: a record is handled as soon as it arrives.
  }

  abandonQueued(): void {
    // Likewise.
  }
}

interface Entry<In extends RecordKind> extends Decoded<In> {
  /** This record's own reply channel: resolved once its output is acknowledged. */
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * batch → outputs (inference), one way: the Batcher only forms batches; each of `concurrency`
 * workers takes the next batch, runs it, and hands the outputs to the writer, which answers every
 * entry on its own channel once the broker acknowledged them. The worker takes the next batch as
 * soon as the run is done, so the produce overlaps the next run. Nothing calls back into the handler.
 */
export class BatchPipeline<In extends RecordKind, Out extends RecordKind> implements Pipeline<In> {
  private readonly batcher: Batcher<Entry<In>>;
  /** Per partition, the highest offset handed to the model so far. */
  private readonly started = new Map<string, bigint>();

  constructor(
    private readonly handler: BatchHandler<In, Out>,
    limits: BatchLimits,
    private readonly ctx: PipelineContext<Out>,
  ) {
    this.batcher = new Batcher(limits, (e) => handler.lengthOf(e.record), ctx.clock);
    ctx.metrics.collect(ctx.metrics.queueDepth, ctx.stage, () => this.batcher.queued);
    for (let i = 0; i < Math.max(1, handler.concurrency); i++) void this.worker();
  }

  submit(records: Decoded<In>[]): Promise<void>[] {
    const replies: Promise<void>[] = [];
    const entries: Entry<In>[] = [];
    for (const decoded of records) {
      const problem = this.handler.reject(decoded.record);
      if (problem) {
        replies.push(this.ctx.writer.deadLetter(decoded.inbound, problem));
        continue;
      }
      replies.push(new Promise<void>((resolve, reject) => entries.push({ ...decoded, resolve, reject })));
    }
    this.batcher.push(entries);
    return replies;
  }

  /**
   * The length-sorted batches overtake: records after a queued one may already be done. Those queued
   * records must run (or the done ones beyond them would be read again); the queued records after
   * every started one of their partition can be dropped for free.
   */
  trimQueued(): void {
    this.reject(
      this.batcher.remove((e) => {
        const started = this.started.get(partitionKey(e.inbound));
        return started === undefined || BigInt(e.inbound.offset) > started;
      }),
    );
  }

  abandonQueued(): void {
    this.reject(this.batcher.drain());
  }

  private reject(dropped: Entry<In>[]): void {
    const error = new AbandonedError('dropped before it ran: the partition was given up');
    for (const entry of dropped) entry.reject(error);
  }

  private async worker(): Promise<void> {
    for (;;) {
      const batch = await this.batcher.next();
      for (const { inbound } of batch) {
        const key = partitionKey(inbound);
        const offset = BigInt(inbound.offset);
        if (offset > (this.started.get(key) ?? -1n)) this.started.set(key, offset);
      }
      await this.run(batch).catch((error: unknown) => batch.forEach((e) => e.reject(error)));
    }
  }

  private async run(batch: Entry<In>[]): Promise<void> {
    const { serializer, writer, metrics, clock, stage, tracer } = this.ctx;
    const batchSpan = tracer.startBatch(batch.map((e) => e.span));
    const started = clock.now();
    let outputs: RecordTypes[Out][];
    try {
      outputs = await this.handler.run(batch.map((e) => e.record));
    } catch (error) {
      endSpan(batchSpan, error);
      batch.forEach((e) => e.reject(error));
      return;
    }
    endSpan(batchSpan);
    this.observeBatch(batch, (clock.now() - started) / 1000);
    // Exactly-once: a batch mixes partitions, and a record of a partition given up (or re-read) since
    // it was queued can no longer stage. It alone is dropped; failing the whole write would abandon the
    // other records too, and an abandoned record of a partition still held stops its commits for good.
    const ours = new Set<Entry<In>>();
    for (const e of batch) {
      if (writer.owns(e.inbound)) ours.add(e);
      else e.reject(new AbandonedError(`${e.inbound.topic}[${e.inbound.partition}] is no longer assigned`));
    }
    const messages: Message[] = [];
    const sources: Source[] = [];
    const dead: Promise<void>[] = [];
    outputs.forEach((output, i) => {
      if (!ours.has(batch[i])) return;
      try {
        messages.push(serializer.serialize(output, outputHeaders(this.ctx, batch[i].inbound, batch[i].span)));
        sources.push(batch[i].inbound);
      } catch (error) {
        dead.push(writer.deadLetter(batch[i].inbound, error));
      }
    });
    void Promise.all([writeOutputs(this.ctx, messages, sources), ...dead]).then(
      () => {
        ours.forEach((e) => e.resolve());
        metrics.recordsOut.inc({ stage }, messages.length);
        if (this.ctx.endToEnd) {
          const now = clock.now();
          for (const output of outputs) {
            const createdAt = createdAtOf(output);
            if (createdAt !== undefined) metrics.endToEnd.observe(Math.max(0, now - createdAt) / 1000);
          }
        }
      },
      (error: unknown) => ours.forEach((e) => e.reject(error)),
    );
  }

  private observeBatch(batch: Entry<In>[], seconds: number): void {
    const { metrics, stage } = this.ctx;
    let real = 0;
    let longest = 0;
    for (const e of batch) {
      const length = this.handler.lengthOf(e.record);
      real += length;
      if (length > longest) longest = length;
    }
    metrics.modelRun.observe({ stage }, seconds);
    metrics.batchSize.observe({ stage }, batch.length);
    metrics.batchRealTokens.observe({ stage }, real);
    metrics.batchPaddedTokens.observe({ stage }, longest * batch.length);
  }
}
