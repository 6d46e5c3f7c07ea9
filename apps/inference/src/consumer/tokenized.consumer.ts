import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { AvroDeserializer } from '@app/avro';
import { APP_CONFIG, AppConfig } from '@app/config';
import { FetchAhead, KAFKA_CLIENT } from '@app/kafka';
import { Consumer, Kafka } from 'kafkajs';
import { TOKENIZED_DESERIALIZER } from '../inference.constants';
import { InferenceService } from '../predict/inference.service';

/** How long SIGTERM waits for the records in flight to be run, produced and committed. */
const DRAIN_TIMEOUT_MS = 30_000;

/**
 * The Kafka side of the inference service. Nest's Kafka transport hands over one message at a
 * time, which cannot batch, so this adapter consumes whole fetched batches (kafkajs eachBatch)
 * and feeds them to the batcher. FetchAhead keeps fetching while batches run and commits each
 * offset only once its predictions are acknowledged.
 */
@Injectable()
export class TokenizedConsumer implements BeforeApplicationShutdown {
  private readonly logger = new Logger(TokenizedConsumer.name);
  private readonly consumer: Consumer;
  private readonly fetchAhead: FetchAhead;
  private joined = false;

  constructor(
    @Inject(KAFKA_CLIENT) kafka: Kafka,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(TOKENIZED_DESERIALIZER) private readonly deserializer: AvroDeserializer<'tokenized'>,
    private readonly inference: InferenceService,
  ) {
    // A shorter session than kafkajs's 30 s: a crashed replica's partitions move on sooner.
    this.consumer = kafka.consumer({
      groupId: `${config.kafka.groupIdPrefix}inference`,
      allowAutoTopicCreation: false,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      minBytes: config.kafka.fetchMinBytes,
      maxWaitTimeInMs: config.kafka.fetchMaxWaitMs,
    });
    this.fetchAhead = new FetchAhead(this.consumer, {
      maxInFlight: config.batch.queueHighWater,
      logger: this.logger,
      onPaused: (paused) => inference.metricsPaused(paused),
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
      eachBatch: (payload) =>
        this.fetchAhead.accept(payload, async (messages) => {
          const { topic, partition } = payload.batch;
          const inbound = await Promise.all(messages.map((m) => this.deserializer.decode({ ...m, topic, partition })));
          await this.inference.process(inbound);
        }),
    });
  }

  // SIGTERM: stop fetching, let the records in flight run, produce and commit, then leave the group.
  async beforeApplicationShutdown(): Promise<void> {
    const drained = await this.fetchAhead.drain([this.config.topics.tokenized], DRAIN_TIMEOUT_MS);
    if (!drained)
      this.logger.warn(`drain incomplete after ${DRAIN_TIMEOUT_MS} ms; uncommitted records will be re-read`);
    this.inference.stop();
    await this.consumer.disconnect();
    this.logger.log(`left consumer group ${this.config.kafka.groupIdPrefix}inference`);
  }
}
