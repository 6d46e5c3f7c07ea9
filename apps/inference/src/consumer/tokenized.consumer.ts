import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { AvroDeserializer } from '@app/avro';
import { APP_CONFIG, AppConfig } from '@app/config';
import { KAFKA_CLIENT } from '@app/kafka';
import { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { TOKENIZED_DESERIALIZER } from '../inference.constants';
import { InferenceService } from '../predict/inference.service';

const HEARTBEAT_MS = 1_000;

/**
 * The Kafka side of the inference service. Nest's Kafka transport hands over one message at a
 * time, which cannot batch, so this adapter consumes whole fetched batches (kafkajs eachBatch)
 * and commits each partition's offsets itself, after the service says the outputs are acked.
 */
@Injectable()
export class TokenizedConsumer implements BeforeApplicationShutdown {
  private readonly logger = new Logger(TokenizedConsumer.name);
  private readonly consumer: Consumer;
  private joined = false;
  private resumeTimer?: NodeJS.Timeout;

  constructor(
    @Inject(KAFKA_CLIENT) kafka: Kafka,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(TOKENIZED_DESERIALIZER) private readonly deserializer: AvroDeserializer<'tokenized'>,
    private readonly inference: InferenceService,
  ) {
    // A shorter session than kafkajs's 30 s: a crashed replica's partitions move on sooner. Batches in
    // flight keep the session alive with explicit heartbeats.
    this.consumer = kafka.consumer({
      groupId: `${config.kafka.groupIdPrefix}inference`,
      allowAutoTopicCreation: false,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => (this.joined = true));
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      this.joined = false;
      this.logger.error(`consumer crashed: ${e.payload.error.message}`);
    });
  }

  get isJoined(): boolean {
    return this.joined;
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.config.topics.tokenized, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.config.topics.partitions,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  private async onBatch({ batch, heartbeat, isStale, resolveOffset }: EachBatchPayload): Promise<void> {
    if (batch.messages.length === 0) return;
    this.applyBackpressure(batch.topic, batch.messages.length);
    const inbound = await Promise.all(
      batch.messages.map((m) => this.deserializer.decode({ ...m, topic: batch.topic, partition: batch.partition })),
    );
    // Keep the group membership alive while a large batch waits its turn on the model.
    const beat = setInterval(() => heartbeat().catch(() => undefined), HEARTBEAT_MS);
    try {
      await this.inference.process(inbound);
    } finally {
      clearInterval(beat);
    }
    // After a rebalance these offsets belong to someone else: they will re-read, and we may duplicate, never lose.
    if (isStale()) return;
    // Moves this consumer's fetch position past the batch; the commit below makes it durable.
    resolveOffset(batch.lastOffset());
    const next = (BigInt(batch.lastOffset()) + 1n).toString();
    await this.consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]);
  }

  /**
   * Bounded memory whatever the input rate: above the high-water mark the consumer stops fetching
   * (the batches already fetched still finish), and resumes once the queue is below half of it.
   */
  private applyBackpressure(topic: string, incoming: number): void {
    const high = this.config.batch.queueHighWater;
    if (this.resumeTimer || this.inference.batcher.queued + incoming <= high) return;
    this.consumer.pause([{ topic }]);
    this.inference.metricsPaused(true);
    this.resumeTimer = setInterval(() => {
      if (this.inference.batcher.queued > high / 2) return;
      clearInterval(this.resumeTimer);
      this.resumeTimer = undefined;
      this.consumer.resume([{ topic }]);
      this.inference.metricsPaused(false);
    }, 20);
  }

  // SIGTERM: disconnect stops fetching and waits for the batches in flight (run, produce, commit).
  async beforeApplicationShutdown(): Promise<void> {
    this.inference.stop();
    clearInterval(this.resumeTimer);
    await this.consumer.disconnect();
  }
}
