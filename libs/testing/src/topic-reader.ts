import { Consumer, IHeaders, Kafka } from 'kafkajs';
import { uniqueName } from './unique';
import { waitFor } from './wait-for';

export interface ReadMessage {
  key: string | null;
  value: Buffer | null;
  headers: IHeaders;
  partition: number;
  offset: string;
  /** When this reader got it (Date.now()), for latency figures. */
  receivedAt: number;
}

/** Reads a topic from the beginning into memory, for assertions; disconnect() when done. */
export class TopicReader {
  readonly messages: ReadMessage[] = [];
  private consumer?: Consumer;

  constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
  ) {}

  async start(): Promise<this> {
    this.consumer = this.kafka.consumer({ groupId: uniqueName('reader'), allowAutoTopicCreation: true });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachMessage: ({ message, partition }) => {
        this.messages.push({
          key: message.key?.toString() ?? null,
          value: message.value,
          headers: message.headers ?? {},
          partition,
          offset: message.offset,
          receivedAt: Date.now(),
        });
        return Promise.resolve();
      },
    });
    return this;
  }

  keys(): Set<string> {
    return new Set(this.messages.map((m) => m.key).filter((k): k is string => k !== null));
  }

  async waitForKeys(ids: Iterable<string>, timeoutMs: number): Promise<void> {
    const wanted = [...ids];
    await waitFor(
      () => {
        const seen = this.keys();
        return wanted.every((id) => seen.has(id));
      },
      {
        timeoutMs,
        intervalMs: 250,
        description: () => {
          const seen = this.keys();
          return `${wanted.length} keys on ${this.topic} (seen ${wanted.filter((id) => seen.has(id)).length})`;
        },
      },
    );
  }

  async disconnect(): Promise<void> {
    await this.consumer?.disconnect();
  }
}
