import type { Clock } from '@app/config';

export interface BatchLimits {
  /** At most this many records per session.run. */
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

export interface BatchStats {
  batches: number;
  records: number;
  realTokens: number;
  paddedTokens: number;
}

interface Pending<T> {
  item: T;
  length: number;
  enqueuedAt: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Runs one batch; resolves once its outputs are acknowledged. */
export type BatchRunner<T> = (items: T[]) => { ran: Promise<void>; acked: Promise<void> };

/**
 * Turns a stream of records into full, length-homogeneous batches for one model session.
 * - At most `concurrency` runs at a time (one per model session); the next batch is formed while
 *   the current ones run, and the produce of a finished batch overlaps the next run.
 * - A record waits for companions only while more are expected to arrive within its wait
 *   window (measured arrival rate): under light load a lone record runs at once.
 * - Batches are cut from the length-sorted queue around the oldest record, so padding stays low
 *   and no record starves.
 */
export class Batcher<T> {
  private queue: Pending<T>[] = [];
  private running = 0;
  private timer?: NodeJS.Timeout;
  private lastArrival?: number;
  private interArrivalMs = Number.POSITIVE_INFINITY;
  readonly stats: BatchStats = { batches: 0, records: 0, realTokens: 0, paddedTokens: 0 };

  constructor(
    private readonly limits: BatchLimits,
    private readonly lengthOf: (item: T) => number,
    private readonly run: BatchRunner<T>,
    private readonly clock: Clock,
    private readonly concurrency = 1,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  /** Resolves when every item's output is acknowledged; rejects if its batch failed. */
  submit(items: T[]): Promise<void> {
    const now = this.clock.now();
    const done = items.map(
      (item) =>
        new Promise<void>((resolve, reject) => {
          this.trackArrival(now);
          this.queue.push({ item, length: this.lengthOf(item), enqueuedAt: now, resolve, reject });
        }),
    );
    this.schedule();
    return Promise.all(done).then(() => undefined);
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
    if (this.running >= this.concurrency || this.queue.length === 0) return;
    const now = this.clock.now();
    let oldest = Number.POSITIVE_INFINITY;
    for (const p of this.queue) oldest = Math.min(oldest, p.enqueuedAt);
    const oldestAge = now - oldest;
    const remaining = this.limits.maxWaitMs - oldestAge;
    const full = this.queue.length >= this.limits.maxSize;
    const expectMore = this.interArrivalMs < remaining;
    if (full || remaining <= 0 || !expectMore) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.dispatch();
      // Another session may be free for what is left.
      this.schedule();
    } else if (!this.timer) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.schedule();
        },
        Math.max(1, Math.min(remaining, this.interArrivalMs)),
      );
    }
  }

  /** The batch to run now: a window of the length-sorted queue around its oldest record. */
  takeBatch(): Pending<T>[] {
    const sorted = [...this.queue].sort((a, b) => a.length - b.length || a.enqueuedAt - b.enqueuedAt);
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
    this.queue = this.queue.filter((p) => !taken.has(p));
    return batch;
  }

  private async dispatch(): Promise<void> {
    this.running++;
    const batch = this.takeBatch();
    const padded = batch.length * batch.reduce((max, p) => Math.max(max, p.length), 0);
    this.stats.batches += 1;
    this.stats.records += batch.length;
    this.stats.realTokens += batch.reduce((sum, p) => sum + p.length, 0);
    this.stats.paddedTokens += padded;
    let started: ReturnType<BatchRunner<T>>;
    try {
      started = this.run(batch.map((p) => p.item));
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      started = { ran: Promise.reject(failure), acked: Promise.reject(failure) };
    }
    started.acked.then(
      () => batch.forEach((p) => p.resolve()),
      (error) => batch.forEach((p) => p.reject(error)),
    );
    // The session is free as soon as the run is done; the produce overlaps the next run.
    await started.ran.catch(() => undefined);
    this.running--;
    this.schedule();
  }

  /** Fails everything still queued (used when the process must stop without finishing). */
  rejectAll(error: Error): void {
    clearTimeout(this.timer);
    const queued = this.queue;
    this.queue = [];
    queued.forEach((p) => p.reject(error));
  }
}
