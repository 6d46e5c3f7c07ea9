import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { AvroDeserializer } from '@app/avro';
import { APP_CONFIG, AppConfig } from '@app/config';
import { KAFKA_CLIENT, KafkaConnection, retryForever } from '@app/kafka';
import { randomUUID } from 'node:crypto';
import { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { PREDICTION_DESERIALIZER } from '../gateway.constants';
import { PendingReplies } from './pending-replies';

/**
 * Reads the predictions topic for this instance's waiting requests. Each gateway instance has its
 * own consumer group, so every instance sees every prediction and keeps the ones it waits for:
 * any number of gateways can run side by side.
 */
@Injectable()
export class PredictionListener implements BeforeApplicationShutdown {
  private readonly logger = new Logger(PredictionListener.name);
  private readonly consumer: Consumer;
  readonly instanceId = randomUUID();
  private fetching = false;
  private stopping = false;

  constructor(
    @Inject(KAFKA_CLIENT) kafka: Kafka,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(PREDICTION_DESERIALIZER) private readonly deserializer: AvroDeserializer<'prediction'>,
    private readonly pending: PendingReplies,
    private readonly connection: KafkaConnection,
  ) {
    this.consumer = kafka.consumer({
      groupId: `${config.kafka.groupIdPrefix}gateway-${this.instanceId}`,
      allowAutoTopicCreation: false,
    });
    // Ready only once a fetch has run after joining: from then on, no new prediction is missed.
    this.consumer.on(this.consumer.events.GROUP_JOIN, () => (this.fetching = false));
    this.consumer.on(this.consumer.events.FETCH, () => (this.fetching = true));
    this.consumer.on(this.consumer.events.CRASH, () => (this.fetching = false));
    this.consumer.on(this.consumer.events.DISCONNECT, () => (this.fetching = false));
  }

  get isListening(): boolean {
    return this.fetching;
  }

  /** Starts in the background, retrying while Kafka is down. */
  start(): void {
    retryForever(
      async () => {
        // The topics exist once the connection is ready; subscribing earlier races their creation.
        await this.connection.whenReady();
        await this.consumer.connect();
        // Only predictions produced from now on matter to this new group.
        await this.consumer.subscribe({ topic: this.config.topics.predictions, fromBeginning: false });
        await this.consumer.run({ autoCommit: false, eachBatch: (payload) => this.onBatch(payload) });
      },
      { what: 'start the predictions listener', logger: this.logger, isStopping: () => this.stopping },
    ).catch(() => undefined);
  }

  private async onBatch({ batch }: EachBatchPayload): Promise<void> {
    for (const message of batch.messages) {
      // The key is the request id: skip other instances' records without decoding them.
      const id = message.key?.toString();
      if (!id || !this.pending.has(id)) continue;
      const inbound = await this.deserializer.decode({ ...message, topic: batch.topic, partition: batch.partition });
      if (inbound.decoded.ok) this.pending.deliver(inbound.decoded.record);
      else this.logger.warn(`undecodable prediction for ${id}: ${inbound.decoded.error.message}`);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.consumer.disconnect();
    this.logger.log(`left consumer group ${this.config.kafka.groupIdPrefix}gateway-${this.instanceId}`);
  }
}
