import { Logger } from '@nestjs/common';
import { errorMessage, retry, ThrottledLog } from '@app/common';
import type { Clock } from '@app/config';
import {
  isRecordRejected,
  kafkaErrorType,
  KafkaProducerAdapter,
  OriginalMessage,
  toDlqMessage,
  truncatedDlqMessage,
} from '@app/kafka';
import type { MetricsService } from '@app/observability';
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
}

const MAX_PRODUCE_BACKOFF_MS = 5_000;

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
  /** A flood of bad records is one line per 10 s with a count (the DLQ and the metrics keep each one). */
  private readonly deadLetterLog = new ThrottledLog((line) => this.options.logger.warn(line));

  constructor(
    private readonly producer: KafkaProducerAdapter,
    private readonly options: OutputWriterOptions,
  ) {}

  /** From now on a failed send is not retried: the inputs stay uncommitted and are read again. */
  stop(): void {
    this.stopping = true;
  }

  /** Produces `messages[i]`, derived from `sources[i]`, onto `topic`. */
  async write(topic: string, messages: Message[], sources: Source[]): Promise<void> {
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
    this.deadLetterLog.log(`dead-lettering ${where}: ${errorMessage(reason)}`);
    const copy = toDlqMessage(
      source,
      { stage, topic: source.topic, partition: source.partition, error: reason },
      clock.now(),
    );
    try {
      await this.send(dlqTopic, [copy]);
      metrics?.inc(`${stage}_dlq_total`);
      return;
    } catch (error) {
      if (!isRecordRejected(error)) throw error;
      logger.warn(`${dlqTopic} refused the DLQ copy of ${where} (${kafkaErrorType(error)}); sending it truncated`);
    }
    try {
      await this.send(dlqTopic, [truncatedDlqMessage(copy, this.options.dlqTruncatedValueBytes)]);
      metrics?.inc(`${stage}_dlq_total`);
      metrics?.inc(`${stage}_dlq_truncated_total`);
    } catch (error) {
      if (!isRecordRejected(error)) throw error;
      logger.error(`skipping ${where}: ${dlqTopic} refused even its truncated DLQ copy (${kafkaErrorType(error)})`);
      metrics?.inc(`${stage}_dlq_skipped_total`);
    }
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
