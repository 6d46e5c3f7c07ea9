import { Logger } from '@nestjs/common';
import { Kafka, Message, Producer, TopicMessages } from 'kafkajs';
import { sendEvery, trackedPartitioner } from './complete-send';
import { isRecordRejected } from './kafka-errors';

interface PendingSend {
  batches: TopicMessages[];
  /** Sent in a request of its own (after a coalesced request was refused for one send's records). */
  alone?: boolean;
  resolve: () => void;
  reject: (error: unknown) => void;
}

// Below the broker's default message.max.bytes (1 MiB), so a coalesced request is never refused as too large.
export const MAX_REQUEST_BYTES = 512 * 1024;

// Errors after which the broker will refuse every later sequence number of this producer id.
const FENCED =
  /OUT_OF_ORDER_SEQUENCE_NUMBER|UNKNOWN_PRODUCER_ID|INVALID_PRODUCER_EPOCH|out of order sequence|unknown producer id/i;

/**
 * The one producer of a process: idempotent, acks=all, so "sent" means the broker has every
 * replica's acknowledgement — the condition for committing the inputs it was derived from.
 *
 * kafkajs's idempotent producer numbers each partition's records when a request is built and
 * only advances the counter on success, so two sends in flight at once can collide and leave the
 * partition refusing everything after. Sends are therefore written one request at a time, with
 * everything that queued up meanwhile coalesced into the next request (as librdkafka's linger does).
 * If the broker still rejects the sequence, the producer is replaced: a new producer id starts
 * a fresh sequence, and the caller's retry may at worst duplicate, never lose.
 */
export class KafkaProducerAdapter {
  private readonly logger = new Logger(KafkaProducerAdapter.name);
  private producer: Producer;
  private connected = false;
  private queue: PendingSend[] = [];
  private writing = false;

  constructor(private readonly kafka: Kafka) {
    this.producer = this.create();
  }

  private create(): Producer {
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
      // kafkajs 2's default (the Java client's murmur2 placement), noting each record's partition for sendEvery.
      createPartitioner: trackedPartitioner,
    });
    producer.on(producer.events.DISCONNECT, () => {
      if (producer === this.producer) this.connected = false;
    });
    return producer;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    this.connected = true;
  }

  send(topic: string, messages: Message[]): Promise<void> {
    return this.sendBatch([{ topic, messages }]);
  }

  /** Resolves once the broker has acknowledged every message of every batch. */
  sendBatch(batches: TopicMessages[]): Promise<void> {
    const nonEmpty = batches.filter((b) => b.messages.length > 0);
    if (nonEmpty.length === 0) return Promise.resolve();
    // A send larger than one request (60 texts of 64 KiB) goes as several requests, in order.
    const parts = splitBySize(nonEmpty, MAX_REQUEST_BYTES).map(
      (part) => new Promise<void>((resolve, reject) => this.queue.push({ batches: part, resolve, reject })),
    );
    void this.write();
    return Promise.all(parts).then(() => undefined);
  }

  private async write(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const sends = this.takeRequest();
        try {
          // A replaced producer that could not connect at once gets another chance here.
          if (!this.connected) await this.connect();
          await sendEvery(
            this.producer,
            sends.flatMap((s) => s.batches),
            this.logger,
          );
          sends.forEach((s) => s.resolve());
        } catch (error) {
          if (FENCED.test(`${(error as { type?: string }).type ?? ''} ${(error as Error).message}`))
            await this.replace(error);
          if (sends.length > 1 && isRecordRejected(error)) {
            // One send's records were refused (too large…): send each alone, so only its own caller hears of it.
            this.queue.unshift(...sends.map((s) => ({ ...s, alone: true })));
            continue;
          }
          sends.forEach((s) => s.reject(error));
        }
      }
    } finally {
      this.writing = false;
    }
  }

  /** The queued sends of the next request: all of them, up to MAX_REQUEST_BYTES (at least one). */
  private takeRequest(): PendingSend[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length) {
      const size = sizeOf(this.queue[n]);
      if (n > 0 && (bytes + size > MAX_REQUEST_BYTES || this.queue[n].alone || this.queue[0].alone)) break;
      bytes += size;
      n++;
    }
    return this.queue.splice(0, n);
  }

  private async replace(cause: unknown): Promise<void> {
    this.logger.warn(`producer sequence rejected (${(cause as Error).message}); starting a new producer id`);
    const old = this.producer;
    this.producer = this.create();
    await old.disconnect().catch(() => undefined);
    try {
      await this.producer.connect();
      this.connected = true;
    } catch (error) {
      this.connected = false;
      this.logger.warn(`new producer could not connect yet: ${(error as Error).message}`);
    }
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
    this.connected = false;
  }
}

function sizeOf(send: PendingSend): number {
  let bytes = 0;
  for (const batch of send.batches) for (const m of batch.messages) bytes += messageSize(m);
  return bytes;
}

/** A message's size on the wire, roughly: value, key, headers and the record's overhead. */
export function messageSize(m: Message): number {
  let bytes = byteLength(m.value) + byteLength(m.key) + 64; // + record overhead
  for (const [name, value] of Object.entries(m.headers ?? {})) {
    bytes += Buffer.byteLength(name) + (Array.isArray(value) ? value : [value]).reduce((n, v) => n + byteLength(v), 0);
  }
  return bytes;
}

/** The batches cut into parts of at most `limit` bytes (a single larger message is a part of its own). */
export function splitBySize(batches: TopicMessages[], limit: number): TopicMessages[][] {
  const parts: TopicMessages[][] = [];
  let part: TopicMessages[] = [];
  let bytes = 0;
  for (const { topic, messages } of batches) {
    let current: TopicMessages | undefined;
    for (const message of messages) {
      const size = messageSize(message);
      if (bytes > 0 && bytes + size > limit) {
        parts.push(part);
        part = [];
        bytes = 0;
        current = undefined;
      }
      if (!current) part.push((current = { topic, messages: [] }));
      current.messages.push(message);
      bytes += size;
    }
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

function byteLength(value: Buffer | string | null | undefined): number {
  if (value == null) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}
