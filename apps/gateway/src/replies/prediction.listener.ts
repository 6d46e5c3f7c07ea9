import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { AvroDeserializer } from '@app/avro';
import { RecordSigner, SIGNATURE_HEADER, ThrottledLog } from '@app/common';
import { APP_CONFIG, GatewayConfig } from '@app/config';
import { ConsumerHealth, KAFKA_CLIENT, KafkaConnection, ManagedConsumer } from '@app/kafka';
import { MetricsService, traceIdFromHeaders } from '@app/observability';
import { randomUUID } from 'node:crypto';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { PREDICTION_DESERIALIZER } from '../gateway.constants';
import { PendingReplies } from './pending-replies';
import { replyPartitionAssigner } from './reply-partition.assigner';

// An idle listener still fetches this often, which is what tells readiness that a broker answers.
const IDLE_FETCH_WAIT_MS = 500;

/**
 * Reads this instance's replies: the one partition of the replies topic (REPLY_TOPIC) it owns
 * (GATEWAY_REPLY_PARTITION), which its sync /predict records name in their reply headers and
 * inference writes each prediction to. N gateways on N partitions each fetch only their own
 * replies, not every prediction. The group is this instance's own (a restart starts a new one at
 * the end of the partition), so gateways never rebalance each other. Built on the same
 * ManagedConsumer as the stages.
 */
@Injectable()
export class PredictionListener implements BeforeApplicationShutdown {
  private readonly logger = new Logger(PredictionListener.name);
  private readonly consumer: ManagedConsumer;
  readonly instanceId = randomUUID();
  /** Where this instance's replies go: its sync /predict records name it (reply-topic, reply-partition). */
  readonly replyTo: { topic: string; partition: number };
  private fetchedSinceJoin = false;
  /** With PREDICTION_SIGNING_KEY set, only predictions signed with it are answered. */
  private readonly signer?: RecordSigner;
  private readonly refusedLog = new ThrottledLog((line) => this.logger.warn(line));
  /** Predictions refused for a missing or wrong signature (forged, or written without the key). */
  refused = 0;

  constructor(
    @Inject(KAFKA_CLIENT) kafka: Kafka,
    @Inject(APP_CONFIG) config: GatewayConfig,
    @Inject(PREDICTION_DESERIALIZER) private readonly deserializer: AvroDeserializer<'prediction'>,
    private readonly pending: PendingReplies,
    private readonly connection: KafkaConnection,
    private readonly metrics: MetricsService,
  ) {
    const k = config.kafka;
    if (config.signingKey) this.signer = new RecordSigner(config.signingKey.reveal());
    this.replyTo = { topic: config.topics.replies, partition: config.gateway.replyPartition };
    this.consumer = new ManagedConsumer(kafka, {
      groupId: `${k.groupIdPrefix}gateway-${this.instanceId}`,
      topics: [this.replyTo.topic],
      // Only replies produced from now on matter to this new group.
      fromBeginning: false,
      consumer: {
        partitionAssigners: [replyPartitionAssigner(this.replyTo.topic, this.replyTo.partition)],
        allowAutoTopicCreation: false,
        sessionTimeout: k.sessionTimeoutMs,
        heartbeatInterval: k.heartbeatIntervalMs,
        maxWaitTimeInMs: IDLE_FETCH_WAIT_MS,
        // read_committed: with exactly-once stages, predictions of an aborted transaction are never answered.
        readUncommitted: false,
      },
      session: (consumer) => this.session(consumer),
      healthWindowMs: k.healthWindowMs,
      restartMaxBackoffMs: k.restartMaxBackoffMs,
      logger: this.logger,
    });
  }

  /** Listening once a fetch has run after joining: from then on, no new prediction is missed. */
  get isListening(): boolean {
    const { member, brokerReachable } = this.consumer.health;
    return member && brokerReachable && this.fetchedSinceJoin;
  }

  get health(): ConsumerHealth {
    return this.consumer.health;
  }

  /** Starts in the background once the topics exist (subscribing earlier races their creation). */
  start(): void {
    this.logger.log(`replies on ${this.replyTo.topic}[${this.replyTo.partition}]`);
    void this.connection
      .whenReady()
      .then(() => this.consumer.start())
      .catch(() => undefined);
  }

  private session(consumer: Consumer) {
    consumer.on(consumer.events.GROUP_JOIN, () => (this.fetchedSinceJoin = false));
    consumer.on(consumer.events.FETCH, () => (this.fetchedSinceJoin = true));
    return { eachBatch: (payload: EachBatchPayload) => this.onBatch(payload) };
  }

  private async onBatch({ batch }: EachBatchPayload): Promise<void> {
    this.countFetched(batch.messages);
    for (const message of batch.messages) {
      // The key is the request id: skip other instances' records without decoding them.
      const id = message.key?.toString();
      if (!id || !this.pending.has(id)) continue;
      if (this.signer && !this.signer.verify(message.key, message.value, message.headers?.[SIGNATURE_HEADER])) {
        // The waiter keeps waiting for the genuine prediction (or its timeout).
        this.refused++;
        this.refusedLog.log(
          `refused a prediction for ${id} at ${batch.topic}/${batch.partition}@${message.offset}: missing or wrong signature (not written by a holder of PREDICTION_SIGNING_KEY)`,
        );
        continue;
      }
      const inbound = await this.deserializer.decode({ ...message, topic: batch.topic, partition: batch.partition });
      if (inbound.decoded.ok) this.pending.deliver(inbound.decoded.record);
      else
        this.logger.warn({
          msg: `undecodable prediction for ${id}: ${inbound.decoded.error.message}`,
          requestId: id,
          traceId: traceIdFromHeaders(message.headers),
        });
    }
  }

  /** What reaching this instance's replies costs: every record fetched, whether it is ours or not. */
  private countFetched(messages: KafkaMessage[]): void {
    let bytes = 0;
    for (const m of messages) {
      bytes += (m.key?.length ?? 0) + (m.value?.length ?? 0);
      for (const [name, value] of Object.entries(m.headers ?? {}))
        bytes += Buffer.byteLength(name) + (value === undefined ? 0 : Buffer.byteLength(value.toString()));
    }
    this.metrics.replyFetchedRecords.inc(messages.length);
    this.metrics.replyFetchedBytes.inc(bytes);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.consumer.stop();
  }
}
