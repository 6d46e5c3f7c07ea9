import { Logger } from '@nestjs/common';
import { KafkaOptions, ServerKafka } from '@nestjs/microservices';
import type { Consumer, EachMessagePayload } from 'kafkajs';
import { FetchAhead } from './fetch-ahead';

export interface AvroKafkaServerOptions {
  /** Logical pattern ('raw') → the topic it reads, from config. */
  topicsByPattern: Record<string, string>;
  /** Records handed to handlers and not yet acknowledged above which fetching pauses. */
  maxInFlight: number;
  /** How long close() waits for in-flight records to be acknowledged and committed. */
  drainTimeoutMs: number;
}

/**
 * Nest's Kafka transport with three changes:
 * - handlers listen on logical patterns ('raw'), and the topic each pattern reads comes from
 *   config at boot (TOPIC_RAW may rename it), since decorator arguments are fixed at import;
 * - the key's original bytes travel with the message, because Nest's parser turns keys into
 *   strings and a DLQ record must keep them unchanged;
 * - each fetched batch is handed to the handlers at once (each still sees one message, which
 *   Nest still deserializes), so their outputs coalesce into a few produce requests, and the
 *   consumer fetches on while they are produced. Offsets are committed only once every handler
 *   before them has resolved, i.e. after the broker acknowledged their outputs (FetchAhead).
 */
export class AvroKafkaServer extends ServerKafka {
  private readonly log = new Logger(AvroKafkaServer.name);
  private joined = false;
  private fetchAhead?: FetchAhead;

  constructor(
    options: NonNullable<KafkaOptions['options']>,
    private readonly server: AvroKafkaServerOptions,
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
    const fetchAhead = new FetchAhead(consumer, { maxInFlight: this.server.maxInFlight, logger: this.log });
    this.fetchAhead = fetchAhead;
    const topics = this.topics();
    if (topics.length > 0) await consumer.subscribe({ ...(this.options.subscribe ?? {}), topics });
    await consumer.run({
      ...(this.options.run ?? {}),
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) =>
        fetchAhead.accept(payload, async (messages) => {
          const { batch } = payload;
          const heartbeat = () => payload.heartbeat();
          const pause = () => payload.pause();
          const { topic, partition } = batch;
          await Promise.all(
            messages.map((message) => this.handleMessage({ topic, partition, message, heartbeat, pause })),
          );
        }),
    });
  }

  override async handleMessage(payload: EachMessagePayload): Promise<unknown> {
    (payload.message as typeof payload.message & { rawKey?: Buffer | null }).rawKey = payload.message.key;
    return super.handleMessage(payload);
  }

  // Shutdown: stop fetching and let what was handed over be produced and committed first.
  override async close(): Promise<void> {
    const joined = Boolean(this.consumer);
    if (this.consumer && this.fetchAhead) {
      const drained = await this.fetchAhead.drain(this.topics(), this.server.drainTimeoutMs);
      if (!drained) this.log.warn(`drain incomplete after ${this.server.drainTimeoutMs} ms; the rest will be re-read`);
    }
    await super.close();
    if (joined) this.log.log(`left consumer group ${this.groupId}`);
  }

  private topics(): string[] {
    return [...this.messageHandlers.keys()].map((p) => this.server.topicsByPattern[p] ?? p);
  }
}
