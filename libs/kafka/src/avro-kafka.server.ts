import { KafkaOptions, ServerKafka } from '@nestjs/microservices';
import type { Consumer, EachMessagePayload } from 'kafkajs';

/**
 * Nest's Kafka transport with two changes:
 * - handlers listen on logical patterns ('raw'), and the topic each pattern reads comes from
 *   config at boot (TOPIC_RAW may rename it), since decorator arguments are fixed at import;
 * - the key's original bytes travel with the message, because Nest's parser turns keys into
 *   strings and a DLQ record must keep them unchanged.
 */
export class AvroKafkaServer extends ServerKafka {
  private joined = false;

  constructor(
    options: NonNullable<KafkaOptions['options']>,
    private readonly topicsByPattern: Record<string, string>,
  ) {
    super(options);
  }

  /** True once the consumer has joined its group and holds an assignment. */
  get isJoined(): boolean {
    return this.joined;
  }

  override async bindEvents(consumer: Consumer): Promise<void> {
    consumer.on(consumer.events.GROUP_JOIN, () => (this.joined = true));
    consumer.on(consumer.events.DISCONNECT, () => (this.joined = false));
    consumer.on(consumer.events.CRASH, () => (this.joined = false));
    const patterns = [...this.messageHandlers.keys()];
    const topics = patterns.map((p) => this.topicsByPattern[p] ?? p);
    if (topics.length > 0) await consumer.subscribe({ ...(this.options.subscribe ?? {}), topics });
    await consumer.run({ ...(this.options.run ?? {}), eachMessage: this.getMessageHandler() });
  }

  override async handleMessage(payload: EachMessagePayload): Promise<any> {
    (payload.message as typeof payload.message & { rawKey?: Buffer | null }).rawKey = payload.message.key;
    return super.handleMessage(payload);
  }
}
