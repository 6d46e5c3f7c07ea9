import type { TopicPartitionOffsetAndMetadata } from 'kafkajs';

/** Commits offsets to Kafka (consumer.commitOffsets, or a stub in unit tests). */
export type CommitOffsets = (offsets: TopicPartitionOffsetAndMetadata[]) => Promise<void>;

interface Chunk {
  last: bigint;
  /** running: handed over; done: its outputs are acknowledged; abandoned: dropped unprocessed (re-read later). */
  state: 'running' | 'done' | 'abandoned';
}

/**
 * Rejects the work of records that were handed over but dropped before they started (a rebalance or
 * SIGTERM): they were never produced, so not committing them costs nothing and duplicates nothing.
 */
export class AbandonedError extends Error {
  override readonly name = 'AbandonedError';
}

interface PartitionState {
  topic: string;
  partition: number;
  /** Fetched chunks not yet committed, in offset order. */
  chunks: Chunk[];
  /** The highest offset handed to the service: a re-fetch of anything at or below it is a duplicate. */
  highest: bigint;
  /** The offset to commit next time (last finished contiguous offset + 1), if not committed yet. */
  pending?: bigint;
}

/**
 * Lets the consumer fetch ahead while earlier records are still being batched, run and produced,
 * and still commit only what is done. Records of a partition may finish out of order (the batcher
 * sorts by length), so a partition's commit moves only past the longest finished prefix of its
 * fetched chunks. Commits are coalesced: one request in flight, carrying every partition that moved.
 */
export class OffsetTracker {
  private readonly partitions = new Map<string, PartitionState>();
  private committing?: Promise<void>;
  private dirty = false;
  private retryTimer?: NodeJS.Timeout;
  private idleWaiters: (() => void)[] = [];
  private stopped = false;
  private lastCommitAt = Number.NEGATIVE_INFINITY;
  private intervalTimer?: NodeJS.Timeout;

  constructor(
    private readonly commit: CommitOffsets,
    private readonly onCommitError: (error: unknown) => void = () => undefined,
    private readonly retryMs = 500,
    /**
     * At least this long between the starts of two commits (0: commit as soon as an offset moves).
     * Exactly-once mode commits a transaction each time: this is its size/latency trade-off.
     */
    private readonly minIntervalMs = 0,
  ) {}

  /** Offsets in flight or waiting for their commit. */
  get inFlight(): number {
    let n = 0;
    for (const p of this.partitions.values()) n += p.chunks.length;
    return n;
  }

  /** Nothing running and nothing waiting for its commit. */
  get idle(): boolean {
    return this.isIdle();
  }

  /** True when this offset was already handed over and is still ours to finish (a re-fetch after a rejoin). */
  isDuplicate(topic: string, partition: number, offset: string): boolean {
    const state = this.partitions.get(key(topic, partition));
    return state !== undefined && BigInt(offset) <= state.highest;
  }

  /**
   * Registers fetched offsets up to `lastOffset`; `done` resolves once every output derived from
   * them is acknowledged. A rejected `done` stops this partition's commits at the chunk before it
   * and hands the partition to `onFailed`, which should rewind the consumer to `firstOffset`.
   */
  track(
    topic: string,
    partition: number,
    firstOffset: string,
    lastOffset: string,
    done: Promise<void>,
    onFailed: (firstOffset: string, error: unknown) => void,
  ): void {
    const k = key(topic, partition);
    let state = this.partitions.get(k);
    if (!state) {
      state = { topic, partition, chunks: [], highest: -1n };
      this.partitions.set(k, state);
    }
    const chunk: Chunk = { last: BigInt(lastOffset), state: 'running' };
    state.chunks.push(chunk);
    if (chunk.last > state.highest) state.highest = chunk.last;
    const owner = state;
    done.then(
      () => {
        chunk.state = 'done';
        this.advance(owner);
      },
      (error: unknown) => {
        if (error instanceof AbandonedError) {
          // Commits stop before it; whoever owns the partition next re-reads it from there.
          chunk.state = 'abandoned';
          this.notifyIdle();
          return;
        }
        // Forget this chunk and everything fetched after it: they will be fetched again.
        const index = owner.chunks.indexOf(chunk);
        if (index < 0) return;
        owner.chunks.splice(index);
        owner.highest = BigInt(firstOffset) - 1n;
        onFailed(firstOffset, error);
        this.advance(owner);
      },
    );
  }

  /** After a rebalance: partitions no longer assigned are dropped (their new owner re-reads them). */
  retain(assigned: { topic: string; partition: number }[]): void {
    const keep = new Set(assigned.map((a) => key(a.topic, a.partition)));
    for (const k of [...this.partitions.keys()]) if (!keep.has(k)) this.partitions.delete(k);
    this.notifyIdle();
  }

  /** Forgets every partition (after a revoke: the next owner, maybe this one, re-reads from the commit). */
  clear(): void {
    this.partitions.clear();
    this.notifyIdle();
  }

  /** Resolves once nothing tracked is still running and every finished prefix is committed (drain, revoke). */
  async drained(): Promise<void> {
    if (this.isIdle()) return;
    // Whoever waits (a revoke, a drain) should not also wait out the commit interval.
    if (this.intervalTimer) {
      clearTimeout(this.intervalTimer);
      this.intervalTimer = undefined;
      this.lastCommitAt = Number.NEGATIVE_INFINITY;
      this.flush();
    }
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** No more commits (the consumer is gone or leaving); what is not committed will be read again. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.intervalTimer);
  }

  private advance(state: PartitionState): void {
    let moved = false;
    while (state.chunks.length > 0 && state.chunks[0].state === 'done') {
      state.pending = state.chunks.shift()!.last + 1n;
      moved = true;
    }
    if (moved) this.flush();
    else this.notifyIdle();
  }

  private flush(): void {
    if (this.stopped) return;
    if (this.committing) {
      this.dirty = true;
      return;
    }
    const wait = this.lastCommitAt + this.minIntervalMs - Date.now();
    if (wait > 0) {
      this.intervalTimer ??= setTimeout(() => {
        this.intervalTimer = undefined;
        this.flush();
      }, wait);
      return;
    }
    const offsets: TopicPartitionOffsetAndMetadata[] = [];
    const sent: [PartitionState, bigint][] = [];
    for (const state of this.partitions.values()) {
      if (state.pending === undefined) continue;
      offsets.push({ topic: state.topic, partition: state.partition, offset: state.pending.toString() });
      sent.push([state, state.pending]);
    }
    if (offsets.length === 0) {
      this.notifyIdle();
      return;
    }
    this.lastCommitAt = Date.now();
    this.committing = this.commit(offsets).then(
      () => {
        for (const [state, offset] of sent) if (state.pending === offset) state.pending = undefined;
        this.afterCommit(false);
      },
      (error: unknown) => {
        this.onCommitError(error);
        this.afterCommit(true);
      },
    );
  }

  private afterCommit(failed: boolean): void {
    this.committing = undefined;
    if (this.dirty) {
      this.dirty = false;
      this.flush();
    } else if (failed) {
      // A commit refused mid-rebalance is retried; the offsets stay pending meanwhile.
      this.retryTimer = setTimeout(() => this.flush(), this.retryMs);
    } else {
      this.notifyIdle();
    }
  }

  private isIdle(): boolean {
    if (this.committing) return false;
    for (const p of this.partitions.values()) {
      if (p.pending !== undefined || p.chunks.some((c) => c.state === 'running')) return false;
    }
    return true;
  }

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0 || !this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    waiters.forEach((w) => w());
  }
}

function key(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}
