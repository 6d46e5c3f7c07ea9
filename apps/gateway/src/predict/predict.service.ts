import { Inject, Injectable, Logger } from '@nestjs/common';
import { AvroSerializer, Prediction, RawText, SchemaRegistration } from '@app/avro';
import { APP_CONFIG, CLOCK, Clock, GatewayConfig } from '@app/config';
import { KafkaConnection, KafkaProducerAdapter, REPLY_PARTITION_HEADER, REPLY_TOPIC_HEADER } from '@app/kafka';
import { MetricsService } from '@app/observability';
import { randomUUID } from 'node:crypto';
import { RAW_SERIALIZER } from '../gateway.constants';
import { overloaded, timedOut, unavailable } from '../http/api-error';
import { PendingReplies, ReplyTimeoutError } from '../replies/pending-replies';
import { PredictionListener } from '../replies/prediction.listener';
import { TextInput } from './predict-request';

@Injectable()
export class PredictService {
  private readonly logger = new Logger(PredictService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: GatewayConfig,
    @Inject(RAW_SERIALIZER) private readonly serializer: AvroSerializer<'raw'>,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly producer: KafkaProducerAdapter,
    private readonly kafka: KafkaConnection,
    private readonly schemas: SchemaRegistration,
    private readonly listener: PredictionListener,
    private readonly pending: PendingReplies,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * Produces the texts onto raw (one record each, keyed by a new id); resolves with the ids once acked.
   * `trace` (the request's `traceparent` headers) goes onto every record. No reply headers: the
   * predictions appear on the predictions topic only.
   */
  async submit(inputs: TextInput[], trace?: Record<string, string>): Promise<string[]> {
    this.assertAvailable(false);
    const records = this.toRecords(inputs);
    await this.produce(records, trace);
    return records.map((r) => r.id);
  }

  /** Produces and waits for every prediction, in input order. */
  async predict(inputs: TextInput[], trace?: Record<string, string>): Promise<Prediction[]> {
    this.assertAvailable(true);
    const bound = this.config.gateway.maxPendingReplies;
    if (this.pending.size + inputs.length > bound) {
      throw overloaded(
        `${this.pending.size} texts are waiting for predictions (MAX_PENDING_REPLIES=${bound}); retry shortly`,
      );
    }
    const records = this.toRecords(inputs);
    // Wait before producing: a fast answer must find its waiter.
    const replies = records.map((r) => this.pending.wait(r.id, this.config.limits.predictTimeoutMs));
    for (const reply of replies) reply.catch(() => undefined);
    const { topic, partition } = this.listener.replyTo;
    await this.produce(records, {
      ...trace,
      [REPLY_TOPIC_HEADER]: topic,
      [REPLY_PARTITION_HEADER]: String(partition),
    });
    try {
      return await Promise.all(replies);
    } catch (error) {
      records.forEach((r) => this.pending.cancel(r.id, error as Error));
      if (error instanceof ReplyTimeoutError) {
        this.logger.warn({
          msg: `${error.message} (${records.length} texts in the request; ${this.pending.size} replies pending)`,
          requestId: records[0].id,
          requestIds: records.length > 1 ? records.map((r) => r.id) : undefined,
          traceId: trace?.traceparent?.split('-')[1],
        });
        throw timedOut(`no prediction within PREDICT_TIMEOUT_MS=${this.config.limits.predictTimeoutMs} ms`);
      }
      throw error;
    }
  }

  private assertAvailable(requireListener: boolean): void {
    if (!this.kafka.isReady) throw unavailable('Kafka is unavailable');
    if (!this.schemas.isRegistered) throw unavailable('schema registry is unavailable or schemas are not registered');
    if (requireListener && !this.listener.isListening) throw unavailable('not yet listening for predictions');
  }

  private toRecords(inputs: TextInput[]): RawText[] {
    const createdAt = this.clock.now();
    return inputs.map(({ text, metadata }) => ({ id: randomUUID(), text, createdAt, source: 'gateway', metadata }));
  }

  private async produce(records: RawText[], trace?: Record<string, string>): Promise<void> {
    const messages = records.map((r) => this.serializer.serialize(r, trace));
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.producer.send(this.config.topics.raw, messages),
        new Promise(
          (_, reject) =>
            (timer = setTimeout(
              () => reject(new Error(`no ack within PRODUCE_TIMEOUT_MS=${this.config.gateway.produceTimeoutMs} ms`)),
              this.config.gateway.produceTimeoutMs,
            )),
        ),
      ]);
      this.metrics.recordsOut.inc({ stage: 'gateway' }, records.length);
    } catch (error) {
      const reason = unavailable(`Kafka did not accept the texts: ${(error as Error).message}`);
      records.forEach((r) => this.pending.cancel(r.id, reason));
      throw reason;
    } finally {
      clearTimeout(timer);
    }
  }
}
