import { Logger } from '@nestjs/common';
import { errorMessage, retry } from '@app/common';
import type { Clock } from '@app/config';
import {
  AbandonedError,
  isRecordRejected,
  kafkaErrorType,
  KafkaProducerAdapter,
  messageSize,
  OriginalMessage,
  toDlqMessage,
  TransactionalOutputs,
  truncatedDlqMessage,
} from '@app/kafka';
import { MetricsService, traceIdFromHeaders, WarningLimiter } from '@app/observability';
import type { Message } from 'kafkajs';

/** Where a message came from: what its DLQ record needs. */
export interface Source extends OriginalMessage {
  topic: string;
  partition: number;
}

export interface OutputWriterOptions {
  stage: string;
  dlqTopic: string;
  /** Size of the value kept in a DLQ copy the broker refused whole. */
  dlqTruncatedValueBytes: number;
  logger: Logger;
  clock: Clock;
  metrics?: MetricsService;
  /**
   * Exactly-once mode: outputs and DLQ copies are staged here, keyed by the input offset they derive
   * from, and produced in the transaction that commits that offset. A write then resolves once staged.
   */
  transactional?: TransactionalOutputs;
  /**
   * Exactly-once mode: the broker's max.message.bytes. A record over it would make its transaction
   * fail again at every retry, so it is handled before staging, as the broker's refusal is otherwise.
   */
  maxMessageBytes?: number;
}

const MAX_PRODUCE_BACKOFF_MS = 5_000;
// A flood of junk input must not fill a disk: per reason, 10 DLQ warnings per 10 s, the rest counted.
const DLQ_WARNINGS_PER_WINDOW = 10;
const DLQ_WARNING_WINDOW_MS = 10_000;

/**
 * Producing for a stage: outputs and DLQ records, each promise resolving once the broker has
 * acknowledged them (the condition for committing their inputs).
 * - Retriable errors (broker down, leader moved) are retried until the broker answers: while Kafka is
 *   down the inputs simply stay uncommitted.
 * - A record the broker refuses (too large, invalid) is never retried: an output goes to the DLQ
 *   instead; a DLQ copy is cut to its first bytes and flagged `dlq.truncated`; if even that is
 *   refused, the skip is logged with topic, partition and offset. The partition moves on either way.
 */
export class OutputWriter {
  private stopping = false;
  private readonly warnings: WarningLimiter;

  constructor(
    private readonly producer: KafkaProducerAdapter,
    private readonly options: OutputWriterOptions,
  ) {
    this.warnings = new WarningLimiter(options.logger, {
      perWindow: DLQ_WARNINGS_PER_WINDOW,
      windowMs: DLQ_WARNING_WINDOW_MS,
      now: () => options.clock.now(),
      suppressed: options.metrics?.warningsSuppressed,
    });
  }

  /** From now on a failed send is not retried: the inputs stay uncommitted and are read again. */
  stop(): void {
    this.stopping = true;
  }

  /**
   * False when exactly-once mode can no longer write for `source`: its partition was given up, or
   * re-read, since it was handed over (its outputs and DLQ copy would reject with AbandonedError).
   */
  owns(source: Source): boolean {
    return this.options.transactional?.owns(source) ?? true;
  }

  /** Produces `messages[i]`, derived from `sources[i]`, onto `topic`. */
  async write(topic: string, messages: Message[], sources: Source[]): Promise<void> {
    if (this.options.transactional) {
      const dead: Promise<void>[] = [];
      messages.forEach((message, i) => {
        const tooLarge = this.overLimit(message);
        if (tooLarge) dead.push(this.deadLetter(sources[i], tooLarge));
        else this.stage(sources[i], topic, [message]);
      });
      await Promise.all(dead);
      return;
    }
    try {
      await this.send(topic, messages);
    } catch (error) {
      if (!isRecordRejected(error)) throw error;
      // One request for all was refused: find out which outputs the broker will not take.
      await Promise.all(
        messages.map((message, i) =>
          this.send(topic, [message]).catch((single: unknown) => {
            if (!isRecordRejected(single)) throw single;
            return this.deadLetter(sources[i], single);
          }),
        ),
      );
    }
  }

  /** Sends the record's DLQ copy with the reason; never leaves the partition stuck. */
  async deadLetter(source: Source, reason: unknown): Promise<void> {
    const { stage, dlqTopic, logger, clock, metrics } = this.options;
    const where = `${source.topic}[${source.partition}]@${source.offset}`;
    const reasonClass = reason instanceof Error ? reason.name : 'Error';
    const about = {
      requestId: source.key?.toString(),
      traceId: traceIdFromHeaders(source.headers),
      source: where,
    };
    this.warnings.warn(`${stage}:${reasonClass}`, {
      msg: `dead-lettering ${where}: ${errorMessage(reason)}`,
      ...about,
    });
    const copy = toDlqMessage(
      source,
      { stage, topic: source.topic, partition: source.partition, error: reason },
      clock.now(),
    );
    if (this.options.transactional) {
      // Sent in the transaction that commits its input offset; cut to its first bytes if over the limit.
      let staged = copy;
      if (this.overLimit(copy)) {
        staged = truncatedDlqMessage(copy, this.options.dlqTruncatedValueBytes);
        metrics?.dlqTruncated.inc({ stage });
      }
      if (this.overLimit(staged)) {
        logger.error({
          msg: `skipping ${where}: even its truncated DLQ copy is over KAFKA_MAX_MESSAGE_BYTES`,
          ...about,
        });
        metrics?.dlqSkipped.inc({ stage });
        this.stage(source, dlqTopic, []);
        return;
      }
      this.stage(source, dlqTopic, [staged]);
      metrics?.deadLettered.inc({ stage, reason: reasonClass });
      return;
    }
    try {
      await this.send(dlqTopic, [copy]);
      metrics?.deadLettered.inc({ stage, reason: reasonClass });
      return;
    } catch (error) {
      if (!isRecordRejected(error)) throw error;
      logger.warn({
        msg: `${dlqTopic} refused the DLQ copy of ${where} (${kafkaErrorType(error)}); sending it truncated`,
        ...about,
      });
    }
    try {
      await this.send(dlqTopic, [truncatedDlqMessage(copy, this.options.dlqTruncatedValueBytes)]);
      metrics?.deadLettered.inc({ stage, reason: reasonClass });
      metrics?.dlqTruncated.inc({ stage });
    } catch (error) {
      if (!isRecordRejected(error)) throw error;
      logger.error({
        msg: `skipping ${where}: ${dlqTopic} refused even its truncated DLQ copy (${kafkaErrorType(error)})`,
        ...about,
      });
      metrics?.dlqSkipped.inc({ stage });
    }
  }

  /** Exactly-once mode: the error a record over the broker's limit would meet, if it is over. */
  private overLimit(message: Message): Error | undefined {
    const limit = this.options.maxMessageBytes;
    const size = messageSize(message);
    if (limit === undefined || size <= limit) return undefined;
    return Object.assign(new Error(`record of about ${size} bytes is over KAFKA_MAX_MESSAGE_BYTES (${limit})`), {
      name: 'RecordTooLargeError',
      type: 'MESSAGE_TOO_LARGE',
    });
  }

  private stage(source: Source, topic: string, messages: Message[]): void {
    if (!this.options.transactional!.stage(source, topic, messages))
      // The partition was given up: its next owner reads the record again from the committed offset.
      throw new AbandonedError(`${source.topic}[${source.partition}] is no longer assigned`);
  }

  private send(topic: string, messages: Message[]): Promise<void> {
    return retry(() => this.producer.send(topic, messages), {
      retries: Infinity,
      initialBackoffMs: 100,
      maxBackoffMs: MAX_PRODUCE_BACKOFF_MS,
      isRetriable: (error) => !isRecordRejected(error),
      isStopping: () => this.stopping,
      onRetry: (error, attempt, waitMs) =>
        this.options.logger.warn(
          `produce to ${topic} failed (${errorMessage(error)}); attempt ${attempt} in ${waitMs} ms`,
        ),
    });
  }
}
