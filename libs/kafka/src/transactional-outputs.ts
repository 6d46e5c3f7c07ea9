import type { Logger } from '@nestjs/common';
import type { Message, Offsets, ProducerBatch, RecordMetadata, TopicPartitionOffsetAndMetadata } from 'kafkajs';
import { sendEvery } from './complete-send';
import { chainHas } from './kafka-errors';
import { MAX_REQUEST_BYTES, splitBySize } from './kafka-producer.adapter';

/** The part of a kafkajs transaction this class uses. */
export interface ProducerTransaction {
  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]>;
  sendOffsets(offsets: Offsets & { consumerGroupId: string }): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** The part of a kafkajs transactional producer this class uses (a fake in unit tests). */
export interface TransactionalProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  transaction(): Promise<ProducerTransaction>;
}

export interface TransactionalOutputsOptions {
  /** The consumer group whose offsets the transactions commit. */
  groupId: string;
  /** A transactional producer for this id (kafkajs: `kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, createPartitioner: trackedPartitioner })`). */
  createProducer: (transactionalId: string) => TransactionalProducer;
  logger: Logger;
  /**
   * Another instance now owns this partition (its producer bumped the epoch of our transactional
   * id): this instance is a zombie. Nothing it staged becomes visible; the caller should stop.
   */
  onFenced: (where: string, error: unknown) => void;
  /**
   * The group's committed offset of an input partition (undefined: none yet), read once this
   * instance holds the partition's transactional id (`ready`).
   */
  committedOffset: (topic: string, partition: number) => Promise<string | undefined>;
}

interface Staged {
  /** The input offset the message derives from. */
  offset: bigint;
  topic: string;
  message: Message;
}

/**
 * The records handed over for one partition since it was last given up. Only their outputs may be
 * staged: after a revoke the partition is read again from the committed offset, and a record of
 * the older reading that finishes late must not add a second output for the same input.
 */
export class Claim {
  private readonly records = new WeakSet<object>();
  constructor(private readonly owner: () => boolean) {}

  /** Marks `source` (the inbound record object that will be passed to `stage`) as this reading's. */
  add(source: object): void {
    if (this.owner()) this.records.add(source);
  }

  has(source: object): boolean {
    return this.records.has(source);
  }
}

interface PartitionTxn {
  claim: Claim;
  /** The transaction in flight, if any: settles either way, at the latest when it times out. */
  committing?: Promise<void>;
  topic: string;
  partition: number;
  id: string;
  producer: TransactionalProducer;
  /**
   * Resolves once the producer holds the transactional id (every older owner fenced, its open
   * transaction aborted) and no transaction of its own is in flight, with the committed offset read
   * after that: the first offset this instance may handle.
   */
  ready: Promise<bigint>;
  staged: Staged[];
  /** The producer cannot go on (kafkajs leaves a failed EndTxn in a state it cannot leave): replace it. */
  broken: boolean;
}

/** Longest a transaction may take before its producer is replaced (below kafkajs's 60 s transaction timeout). */
const COMMIT_TIMEOUT_MS = 30_000;

// Kafka answers these to a producer whose epoch another producer with the same transactional id bumped.
const FENCED = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED']);

/** The error says that another producer took over this transactional id. */
export const isFenced = (error: unknown): boolean => chainHas(error, (type) => FENCED.has(type));

/** `<group>-<topic>-<partition>`: the same id for whoever owns the input partition. */
export const transactionalIdFor = (groupId: string, topic: string, partition: number): string =>
  `${groupId}-${topic}-${partition}`;

/**
 * The producing and committing half of exactly-once delivery (docs/ARCHITECTURE.md, "Delivery").
 *
 * One transactional producer per assigned input partition, with a transactional id derived from
 * the group, topic and partition. kafkajs does not implement KIP-447 (offsets committed with the
 * consumer's group generation), so fencing rests on the id: whoever is assigned a partition
 * initialises its id, which aborts the previous owner's open transaction and makes the broker
 * refuse everything the previous owner still tries to write.
 *
 * Outputs (and DLQ copies) are staged with the input offset they derive from; the OffsetTracker
 * decides what may be committed (the finished prefix of each partition) and calls `commit`, which,
 * per partition, sends the staged outputs below the commit offset, the offset itself with
 * `sendOffsets`, and commits: outputs and offset become visible together, or neither does.
 */
export class TransactionalOutputs {
  private readonly partitions = new Map<string, PartitionTxn>();
  private closed = false;

  constructor(private readonly options: TransactionalOutputsOptions) {}

  /** Staged messages not yet committed (all partitions). */
  get stagedMessages(): number {
    let n = 0;
    for (const p of this.partitions.values()) n += p.staged.length;
    return n;
  }

  /**
   * The assignment after a rebalance: partitions kept keep their producer and staged outputs;
   * new ones get a producer, which takes over the id at once; lost ones are closed and their staged
   * outputs dropped (their new owner reads them again from the committed offset).
   */
  assign(assigned: { topic: string; partition: number }[]): void {
    if (this.closed) return;
    const keep = new Set<string>();
    for (const { topic, partition } of assigned) {
      const k = key(topic, partition);
      keep.add(k);
      const current = this.partitions.get(k);
      if (!current) this.open(topic, partition);
      else if (current.broken) this.reopen(current);
    }
    const lost: string[] = [];
    for (const [k, p] of [...this.partitions]) {
      if (keep.has(k)) continue;
      this.partitions.delete(k);
      lost.push(p.id);
      void this.release(p);
    }
    if (lost.length > 0) this.options.logger.log(`transactional producers closed: ${lost.join(', ')}`);
  }

  /**
   * The claim of the partition's current reading, taken when records are handed over; the inbound
   * records made from them are added to it once decoded. Undefined if the partition is not assigned.
   */
  claimFor(topic: string, partition: number): Claim | undefined {
    return this.partitions.get(key(topic, partition))?.claim;
  }

  /**
   * Every partition is given up (an eager rebalance, once the work in flight is committed or the
   * wait ran out): what is staged is dropped and records of this reading can no longer be staged.
   * Producers stay: the partitions this member gets back keep their transactional id.
   */
  revoked(): void {
    for (const p of this.partitions.values()) {
      p.staged = [];
      p.claim = this.newClaim(p);
      p.ready = this.afterInFlight(p);
    }
  }

  /** Whether `source` (an inbound record) belongs to this instance's current reading of its partition: only then may it stage. */
  owns(source: { topic: string; partition: number }): boolean {
    return this.partitions.get(key(source.topic, source.partition))?.claim.has(source) ?? false;
  }

  /**
   * Resolves once this instance holds the partition's transactional id (immediately if not
   * assigned), with the first offset it may handle: the group's committed offset read after the
   * take-over, and after a revoke once this instance's own transaction in flight has settled.
   * kafkajs reads a partition's position when the member joins; the previous owner's last
   * transaction, or this instance's, can still commit after that (it had not finished when kafkajs
   * rejoined), and the records it covered must not be handled a second time.
   */
  async ready(topic: string, partition: number): Promise<bigint | undefined> {
    return this.partitions.get(key(topic, partition))?.ready;
  }

  /**
   * Holds `messages` for `topic`, derived from the input record at `source`, until its offset is
   * committed. Answers false when the partition is no longer this instance's (the messages are dropped).
   */
  stage(source: { topic: string; partition: number; offset: string }, topic: string, messages: Message[]): boolean {
    const p = this.partitions.get(key(source.topic, source.partition));
    if (!p || !p.claim.has(source)) return false;
    const offset = BigInt(source.offset);
    for (const message of messages) p.staged.push({ offset, topic, message });
    return true;
  }

  /**
   * The OffsetTracker's commit: per partition one transaction with the staged outputs below the
   * offset and the offset. A failure aborts (nothing of it becomes visible) and rejects; the tracker
   * retries, sending the same outputs again in a new transaction. If the failed commit did land (its
   * answer was lost), the replaced producer's take-over reads that, and the retry sends nothing twice.
   */
  readonly commit = async (offsets: TopicPartitionOffsetAndMetadata[]): Promise<void> => {
    const results = await Promise.allSettled(offsets.map((o) => this.commitPartition(o)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  };

  /** Closes every producer; what is staged is dropped (read again from the committed offsets). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.partitions.values()];
    this.partitions.clear();
    await Promise.all(all.map((p) => this.release(p)));
  }

  private async commitPartition(o: TopicPartitionOffsetAndMetadata): Promise<void> {
    const p = this.partitions.get(key(o.topic, o.partition));
    // Not ours any more: its new owner re-reads from the last committed offset.
    if (!p) return;
    // A kafkajs call that never answers (its connection closed under it) must not stop every later
    // commit: past the timeout the producer is replaced, which aborts whatever it left open.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.options.logger.warn(
          `${p.id}: transaction not finished after ${COMMIT_TIMEOUT_MS} ms; replacing the producer`,
        );
        if (this.partitions.get(key(o.topic, o.partition)) === p) this.reopen(p);
        reject(new Error(`${p.id}: transaction timed out`));
      }, COMMIT_TIMEOUT_MS);
    });
    const settled = Promise.race([this.transact(p, o), timedOut]).finally(() => clearTimeout(timer));
    p.committing = settled.catch(() => undefined);
    await settled;
  }

  private async transact(
    p: PartitionTxn,
    { topic, partition, offset }: TopicPartitionOffsetAndMetadata,
  ): Promise<void> {
    const floor = await p.ready;
    const upTo = BigInt(offset);
    // Below the floor is committed already: a retry after a commit whose answer was lost (the broker
    // died after writing it) finds it so once the replaced producer's take-over has read the offset.
    if (floor > 0n) p.staged = p.staged.filter((s) => s.offset >= floor);
    if (upTo <= floor) return;
    const batch = p.staged.filter((s) => s.offset < upTo);
    const where = `${topic}[${partition}]`;
    let txn: ProducerTransaction | undefined;
    try {
      txn = await p.producer.transaction();
      const byTopic = new Map<string, Message[]>();
      for (const s of batch) {
        const list = byTopic.get(s.topic);
        if (list) list.push(s.message);
        else byTopic.set(s.topic, [s.message]);
      }
      // In requests below the broker's limit, as the idempotent producer does: a partition's records
      // go as one batch, and a large transaction would otherwise be refused whole, again and again.
      const all = [...byTopic].map(([t, messages]) => ({ topic: t, messages }));
      for (const part of splitBySize(all, MAX_REQUEST_BYTES)) await sendEvery(txn, part, this.options.logger);
      await txn.sendOffsets({
        consumerGroupId: this.options.groupId,
        topics: [{ topic, partitions: [{ partition, offset }] }],
      });
      await txn.commit();
    } catch (error) {
      if (isFenced(error)) {
        // Another instance holds the id: drop everything, never write again for this partition.
        if (this.partitions.get(key(topic, partition)) === p) {
          this.partitions.delete(key(topic, partition));
          void this.release(p);
          this.options.onFenced(where, error);
        }
        throw error;
      }
      if (txn) await this.abort(p, txn);
      else p.broken = true;
      throw error;
    }
    // Only what this transaction carried: records staged meanwhile stay for the next one.
    const sent = new Set(batch);
    p.staged = p.staged.filter((s) => !sent.has(s));
  }

  /** Aborts a failed transaction; if kafkajs cannot (its state machine stuck mid-commit), the producer is replaced. */
  private async abort(p: PartitionTxn, txn: ProducerTransaction): Promise<void> {
    try {
      await txn.abort();
    } catch (error) {
      this.options.logger.warn(
        `${p.id}: abort failed (${(error as Error).message}); replacing the producer (its open transaction is aborted by the broker)`,
      );
      this.reopen(p);
    }
  }

  private open(topic: string, partition: number): void {
    const id = transactionalIdFor(this.options.groupId, topic, partition);
    const p: PartitionTxn = {
      claim: new Claim(() => false),
      topic,
      partition,
      id,
      producer: this.options.createProducer(id),
      ready: Promise.resolve(0n),
      staged: [],
      broken: false,
    };
    p.claim = this.newClaim(p);
    p.ready = this.init(p);
    this.partitions.set(key(topic, partition), p);
  }

  private newClaim(p: PartitionTxn): Claim {
    const claim: Claim = new Claim(() => p.claim === claim && this.partitions.get(key(p.topic, p.partition)) === p);
    return claim;
  }

  private reopen(p: PartitionTxn): void {
    const old = p.producer;
    void old.disconnect().catch(() => undefined);
    p.producer = this.options.createProducer(p.id);
    p.broken = false;
    p.ready = this.init(p);
  }

  /**
   * Connects and takes over the transactional id: kafkajs initialises it with the first
   * transaction, so an empty one is begun and ended (nothing is sent to the broker but InitProducerId).
   * Then reads the committed offset, final now that no earlier owner can commit (see `ready`).
   * Each step is retried until it succeeds or the partition or this producer is given up.
   */
  private async init(p: PartitionTxn): Promise<bigint> {
    const producer = p.producer;
    const taken = await this.retrying(p, producer, 'initialising the transactional producer', async () => {
      await producer.connect();
      const txn = await producer.transaction();
      await txn.abort();
      return true;
    });
    if (!taken) return 0n;
    const first = await this.readFloor(p, producer);
    this.options.logger.log(
      `${p.id}: transactional id taken over (any earlier owner fenced); committed offset ${first}`,
    );
    return first;
  }

  /**
   * A revoke's `ready` for a partition this instance may get back. kafkajs re-reads a kept partition
   * from the offset it reads at the rejoin; a transaction of this instance still in flight then (the
   * revoke's wait ran out) can commit after that read. Once it has settled, this instance holding
   * the id, the committed offset is final again.
   */
  private async afterInFlight(p: PartitionTxn): Promise<bigint> {
    const producer = p.producer;
    await Promise.all([p.ready, p.committing]);
    // The transaction failed and its producer was replaced: that take-over reads the offset.
    if (p.producer !== producer) return p.ready;
    return this.readFloor(p, producer);
  }

  private async readFloor(p: PartitionTxn, producer: TransactionalProducer): Promise<bigint> {
    const committed = await this.retrying(p, producer, 'reading the committed offset', () =>
      this.options.committedOffset(p.topic, p.partition),
    );
    return committed === undefined || BigInt(committed) < 0n ? 0n : BigInt(committed);
  }

  /** Runs `step` until it succeeds; undefined once `producer` is replaced or the partition given up. */
  private async retrying<T>(
    p: PartitionTxn,
    producer: TransactionalProducer,
    what: string,
    step: () => Promise<T>,
  ): Promise<T | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await step();
      } catch (error) {
        if (p.producer !== producer || this.partitions.get(key(p.topic, p.partition)) !== p) return undefined;
        const wait = Math.min(5_000, 200 * 2 ** attempt);
        this.options.logger.warn(`${p.id}: ${what} failed (${(error as Error).message}); retrying in ${wait} ms`);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  private async release(p: PartitionTxn): Promise<void> {
    p.staged = [];
    // Not under a transaction in flight: a producer disconnected mid-request may leave it open (and the
    // read_committed readers of its output partitions waiting) until the transaction timeout.
    await p.committing;
    await p.producer.disconnect().catch(() => undefined);
  }
}

function key(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}
