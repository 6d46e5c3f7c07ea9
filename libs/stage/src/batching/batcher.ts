import type { Clock } from '@app/config';

export interface BatchLimits {
  /** At most this many records per batch. */
  maxSize: number;
  /** A record waits at most this long for companions. */
  maxWaitMs: number;
  /** size × padded length ≤ this (how text-embeddings-inference prices a batch). */
  maxTokens: number;
  /**
   * A batch grows only while real tokens ÷ padded tokens stays at or above this (0: no floor).
   * On a CPU a pad token costs as much as a real one and a run has little fixed cost, so two
   * well-matched batches beat one padded one; a GPU, with a high cost per run, wants 0.
   */
  minTokenEfficiency?: number;
}

/** Below this many padded tokens a batch is cheap whatever its padding: the efficiency floor does not apply. */
const SMALL_BATCH_TOKENS = 256;

/**
 * Batches are picked among the oldest (this × maxSize) queued records only. Enough choice to keep the
 * padding low, and it bounds how far a batch can overtake: on a rebalance or SIGTERM the records below
 * ones already done must still run (docs/ARCHITECTURE.md, "Rebalances"), and with a window they are
 * at most this many batches' worth, however deep the queue behind them.
 */
const WINDOW_BATCHES = 8;

export interface BatchStats {
  batches: number;
  records: number;
  realTokens: number;
  paddedTokens: number;
}

interface Queued<T> {
  item: T;
  length: number;
  enqueuedAt: number;
}

/**
 * A queue that only forms batches (text-embeddings-inference's shape): items go in with push(),
 * batches come out of next(), which a free model session calls. It runs nothing and answers
 * nobody; the caller owns each item's reply.
 * - A record waits for companions only while more are expected to arrive within its wait
 *   window (measured arrival rate): under light load a lone record goes out at once.
 * - Batches are cut around the oldest record from the length-sorted oldest records (a window of
 *   8 batches' worth), so padding stays low, no record starves, and no batch overtakes far.
 */
export class Batcher<T> {
  private queue: Queued<T>[] = [];
  private waiters: ((batch: T[]) => void)[] = [];
  private timer?: NodeJS.Timeout;
  private lastArrival?: number;
  private interArrivalMs = Number.POSITIVE_INFINITY;
  readonly stats: BatchStats = { batches: 0, records: 0, realTokens: 0, paddedTokens: 0 };

  constructor(
    private readonly limits: BatchLimits,
    private readonly lengthOf: (item: T) => number,
    private readonly clock: Clock,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  push(items: T[]): void {
    const now = this.clock.now();
    for (const item of items) {
      this.trackArrival(now);
      this.queue.push({ item, length: this.lengthOf(item), enqueuedAt: now });
    }
    this.schedule();
  }

  /** The next batch, once one is due. Each free session waits on its own call. */
  next(): Promise<T[]> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.schedule();
    });
  }

  /** Takes every queued item out (they will not be batched), e.g. when their partitions are given up. */
  drain(): T[] {
    return this.remove(() => true);
  }

  /** Takes the queued items that match out of the queue. */
  remove(matches: (item: T) => boolean): T[] {
    const removed = this.queue.filter((q) => matches(q.item));
    if (removed.length === 0) return [];
    const gone = new Set(removed);
    this.queue = this.queue.filter((q) => !gone.has(q));
    if (this.queue.length === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    return removed.map((q) => q.item);
  }

  private trackArrival(now: number): void {
    if (this.lastArrival !== undefined) {
      const gap = now - this.lastArrival;
      // EWMA of the gap between records; a burst (gap 0) pulls it down quickly.
      this.interArrivalMs = Number.isFinite(this.interArrivalMs) ? 0.8 * this.interArrivalMs + 0.2 * gap : gap;
    }
    this.lastArrival = now;
  }

  private schedule(): void {
    while (this.waiters.length > 0 && this.queue.length > 0) {
      const now = this.clock.now();
      let oldest = Number.POSITIVE_INFINITY;
      for (const q of this.queue) oldest = Math.min(oldest, q.enqueuedAt);
      const remaining = this.limits.maxWaitMs - (now - oldest);
      const full = this.queue.length >= this.limits.maxSize;
      const expectMore = this.interArrivalMs < remaining;
      if (!full && remaining > 0 && expectMore) {
        this.timer ??= setTimeout(
          () => {
            this.timer = undefined;
            this.schedule();
          },
          Math.max(1, Math.min(remaining, this.interArrivalMs)),
        );
        return;
      }
      clearTimeout(this.timer);
      this.timer = undefined;
      this.waiters.shift()!(this.takeBatch().map((q) => q.item));
    }
  }

  /** The batch to run now: a stretch of the length-sorted window around its oldest record. */
  private takeBatch(): Queued<T>[] {
    // The queue is in arrival order: its head is the window.
    const window = this.queue.slice(0, Math.max(1, WINDOW_BATCHES * this.limits.maxSize));
    const sorted = window.sort((a, b) => a.length - b.length || a.enqueuedAt - b.enqueuedAt);
    let oldest = 0;
    for (let i = 1; i < sorted.length; i++) if (sorted[i].enqueuedAt < sorted[oldest].enqueuedAt) oldest = i;
    let lo = oldest;
    let hi = oldest;
    let real = sorted[oldest].length;
    const floor = this.limits.minTokenEfficiency ?? 0;
    // Whether the window [from, to] would respect every cap; `withReal`: its real tokens.
    const fits = (from: number, to: number, withReal: number) => {
      const padded = (to - from + 1) * sorted[to].length;
      return (
        to - from + 1 <= this.limits.maxSize &&
        padded <= this.limits.maxTokens &&
        (padded <= SMALL_BATCH_TOKENS || withReal >= floor * padded)
      );
    };
    for (;;) {
      const canLeft = lo > 0 && fits(lo - 1, hi, real + sorted[lo - 1].length);
      const canRight = hi < sorted.length - 1 && fits(lo, hi + 1, real + sorted[hi + 1].length);
      if (!canLeft && !canRight) break;
      // Grow toward the neighbour whose length is closest: it adds the least padding.
      const leftCost = canLeft ? sorted[hi].length - sorted[lo - 1].length : Infinity;
      const rightCost = canRight ? sorted[hi + 1].length - sorted[lo].length : Infinity;
      if (leftCost <= rightCost) real += sorted[--lo].length;
      else real += sorted[++hi].length;
    }
    const batch = sorted.slice(lo, hi + 1);
    const taken = new Set(batch);
    this.queue = this.queue.filter((q) => !taken.has(q));
    this.stats.batches += 1;
    this.stats.records += batch.length;
    this.stats.realTokens += real;
    this.stats.paddedTokens += batch.length * batch[batch.length - 1].length;
    return batch;
  }
}
