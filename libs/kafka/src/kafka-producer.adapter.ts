import { Kafka, Message, Producer } from 'kafkajs';

/**
 * The one producer of a process: idempotent, acks=all, so "sent" means the broker has every
 * replica's acknowledgement — the condition for committing the inputs it was derived from.
 */
export class KafkaProducerAdapter {
  private readonly producer: Producer;
  private connected = false;

  constructor(kafka: Kafka) {
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 5, allowAutoTopicCreation: true });
    this.producer.on(this.producer.events.DISCONNECT, () => (this.connected = false));
  }

  get isConnected(): boolean {
    return this.connected;
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    this.connected = true;
  }

  async send(topic: string, messages: Message[]): Promise<void> {
    if (messages.length === 0) return;
    await this.producer.send({ topic, messages, acks: -1 });
  }

  /** Several topics in one round trip (e.g. predictions plus DLQ records of the same batch). */
  async sendBatch(batches: { topic: string; messages: Message[] }[]): Promise<void> {
    const topicMessages = batches.filter((b) => b.messages.length > 0);
    if (topicMessages.length === 0) return;
    await this.producer.sendBatch({ topicMessages, acks: -1 });
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
    this.connected = false;
  }
}
