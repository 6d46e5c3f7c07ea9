import { Inject, Injectable, Logger } from '@nestjs/common';
import { AvroDeserializer, AvroSerializer, InboundRecord, TokenizedText } from '@app/avro';
import { APP_CONFIG, AppConfig, CLOCK, Clock } from '@app/config';
import { dlqTopicFor, KafkaProducerAdapter, sendUntilAcked, toDlqMessage } from '@app/kafka';
import type { ModelInfo } from '@app/model';
import { MetricsService } from '@app/observability';
import type { Message } from 'kafkajs';
import { Batcher } from '../batching/batcher';
import { CLASSIFIER, MODEL_INFO, PREDICTION_SERIALIZER, STAGE, TOKENIZED_DESERIALIZER } from '../inference.constants';
import { buildPrediction, tokensProblem } from './prediction.builder';

/** What the service needs of the ONNX session (an adapter: see @app/model's OnnxClassifier). */
export interface Classifier {
  readonly provider: string;
  /** Batches that may run at once (one per session). */
  readonly concurrency: number;
  run(batch: number[][]): Promise<{ logits: number[][] }>;
}

export class InvalidTokensError extends Error {
  override readonly name = 'InvalidTokensError';
}

/** tokenized → predictions: validates, micro-batches, runs the model, produces, and dead-letters. */
@Injectable()
export class InferenceService {
  private readonly logger = new Logger(InferenceService.name);
  private stopping = false;
  private paused = false;
  private readonly batcher: Batcher<TokenizedText>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(MODEL_INFO) private readonly model: ModelInfo,
    @Inject(CLASSIFIER) private readonly classifier: Classifier,
    @Inject(TOKENIZED_DESERIALIZER) private readonly deserializer: AvroDeserializer<'tokenized'>,
    @Inject(PREDICTION_SERIALIZER) private readonly serializer: AvroSerializer<'prediction'>,
    private readonly producer: KafkaProducerAdapter,
    private readonly metrics: MetricsService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.batcher = new Batcher(
      config.batch,
      (r) => r.inputIds.length,
      (records) => this.runBatch(records),
      clock,
      classifier.concurrency,
    );
    metrics.gauge('inference_queue_depth', () => this.batcher.queued);
    metrics.gauge('inference_consumer_paused', () => (this.paused ? 1 : 0));
    metrics.gauge('inference_batches_total', () => this.batcher.stats.batches);
    metrics.gauge('inference_records_total', () => this.batcher.stats.records);
    metrics.gauge('inference_real_tokens_total', () => this.batcher.stats.realTokens);
    metrics.gauge('inference_padded_tokens_total', () => this.batcher.stats.paddedTokens);
  }

  /**
   * Handles the records of one fetched partition batch. Resolves once every output derived from
   * them (predictions and DLQ records) is acknowledged: only then may their offsets be committed.
   */
  async process(inbound: InboundRecord<'tokenized'>[]): Promise<void> {
    const good: TokenizedText[] = [];
    const dead: Message[] = [];
    const policy = { maxRetries: this.config.delivery.maxRetries, backoffMs: this.config.delivery.retryBackoffMs };
    for (const message of inbound) {
      try {
        const record = await this.deserializer.decodeWithRetries(message, policy);
        const problem = tokensProblem(record, this.model.vocabSize, this.model.maxLength);
        if (problem) throw new InvalidTokensError(problem);
        good.push(record);
      } catch (error) {
        this.logger.warn(
          `dead-lettering ${message.topic}[${message.partition}]@${message.offset}: ${(error as Error).message}`,
        );
        dead.push(
          toDlqMessage(
            message,
            { stage: STAGE, topic: message.topic, partition: message.partition, error },
            this.clock.now(),
          ),
        );
      }
    }
    const dlq = dead.length
      ? sendUntilAcked(
          this.producer,
          [{ topic: dlqTopicFor(this.config.topics.tokenized), messages: dead }],
          this.sendOptions(),
        )
      : Promise.resolve();
    await Promise.all([dlq, good.length ? this.batcher.submit(good) : Promise.resolve()]);
    this.metrics.inc('inference_dlq_total', dead.length);
  }

  private runBatch(records: TokenizedText[]): { ran: Promise<void>; acked: Promise<void> } {
    const started = this.clock.now();
    const result = this.classifier.run(records.map((r) => r.inputIds));
    const ran = result.then(() => this.metrics.observe('inference_run_seconds', (this.clock.now() - started) / 1000));
    const acked = result.then(({ logits }) => {
      const predictedAt = this.clock.now();
      const messages = records.map((record, i) =>
        this.serializer.serialize(buildPrediction(record, logits[i], this.model, records.length, predictedAt)),
      );
      return sendUntilAcked(this.producer, [{ topic: this.config.topics.predictions, messages }], this.sendOptions());
    });
    return { ran, acked };
  }

  private sendOptions() {
    return { logger: this.logger, isStopping: () => this.stopping };
  }

  metricsPaused(paused: boolean): void {
    if (paused) this.metrics.inc('inference_backpressure_pauses_total');
    this.paused = paused;
  }

  stop(): void {
    this.stopping = true;
  }
}
