import { Batcher, BatchLimits } from './batcher';

interface Item {
  id: number;
  length: number;
}

/** Model sessions that take batches from the batcher; each run lasts until the test says so. */
function harness(limits: BatchLimits, concurrency = 1) {
  let now = 0;
  const clock = { now: () => now };
  const runs: { items: Item[]; finish: () => void }[] = [];
  const batcher = new Batcher<Item>(limits, (item) => item.length, clock);
  for (let i = 0; i < concurrency; i++) {
    void (async () => {
      for (;;) {
        const batch = await batcher.next();
        await new Promise<void>((finish) => runs.push({ items: batch, finish }));
      }
    })();
  }
  return { batcher, runs, advance: (ms: number) => (now += ms) };
}

const items = (lengths: number[], from = 0): Item[] => lengths.map((length, i) => ({ id: from + i, length }));
const flush = () => new Promise((r) => setImmediate(r));

describe('Batcher', () => {
  afterEach(() => jest.useRealTimers());

  it('hands a lone record out at once when a session is waiting', async () => {
    const { batcher, runs } = harness({ maxSize: 32, maxWaitMs: 1000, maxTokens: 10_000 });
    batcher.push(items([10]));
    await flush();
    expect(runs).toHaveLength(1);
    expect(runs[0].items.map((i) => i.id)).toEqual([0]);
  });

  it('forms the next batch from what arrived while the session was busy', async () => {
    const { batcher, runs } = harness({ maxSize: 8, maxWaitMs: 0, maxTokens: 10_000 });
    batcher.push(items([5]));
    await flush();
    batcher.push(items([5, 5, 5, 5, 5, 5, 5, 5, 5, 5], 1));
    await flush();
    expect(runs).toHaveLength(1); // still busy
    runs[0].finish();
    await flush();
    expect(runs).toHaveLength(2);
    expect(runs[1].items).toHaveLength(8); // capped by maxSize
    runs[1].finish();
    await flush();
    expect(runs[2].items).toHaveLength(2);
  });

  it('respects the token budget: size × padded length ≤ maxTokens', async () => {
    const { batcher, runs } = harness({ maxSize: 100, maxWaitMs: 0, maxTokens: 100 });
    batcher.push(items([50, 50, 50, 10, 10, 10, 10]));
    await flush();
    // Let every batch finish in turn until the queue is drained.
    for (let i = 0; i < 10 && batcher.queued > 0; i++) {
      runs.forEach((r) => r.finish());
      await flush();
    }
    for (const run of runs) {
      const padded = run.items.length * Math.max(...run.items.map((i) => i.length));
      expect(padded).toBeLessThanOrEqual(100);
    }
    expect(runs.flatMap((r) => r.items.map((i) => i.id)).sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('stops growing a batch below the token-efficiency floor, unless it is small anyway', async () => {
    const limits = { maxSize: 32, maxWaitMs: 0, maxTokens: 10_000, minTokenEfficiency: 0.8 };
    const { batcher, runs, advance } = harness(limits);
    batcher.push(items([1])); // occupies the session while the rest queues
    await flush();
    advance(1);
    batcher.push(items([100], 1)); // the oldest waiting record
    advance(1);
    batcher.push(items([20, 100, 90, 8, 6], 2));
    await flush();
    runs[0].finish();
    await flush();
    // Around the oldest (100): 100, 100, 90 pad to 300 of which 290 are real; adding 20 would fall to 0.78.
    expect(runs[1].items.map((i) => i.length).sort((a, b) => a - b)).toEqual([90, 100, 100]);
    runs[1].finish();
    await flush();
    // 20, 8 and 6 pad to 60 tokens: under the small-batch threshold, so they go together.
    expect(runs[2].items.map((i) => i.length).sort((a, b) => a - b)).toEqual([6, 8, 20]);
  });

  it('hands one batch to each waiting session, so batches run side by side', async () => {
    const { batcher, runs } = harness({ maxSize: 2, maxWaitMs: 0, maxTokens: 10_000 }, 2);
    batcher.push(items([5, 5, 5, 5, 5]));
    await flush();
    expect(runs.map((r) => r.items.length)).toEqual([2, 2]); // the fifth waits for a free session
    runs[1].finish();
    await flush();
    expect(runs.map((r) => r.items.length)).toEqual([2, 2, 1]);
  });

  it('groups records of similar length to cut padding, and always includes the oldest', async () => {
    const { batcher, runs } = harness({ maxSize: 3, maxWaitMs: 0, maxTokens: 10_000 });
    batcher.push(items([100]));
    await flush(); // busy with id 0
    batcher.push(items([8, 120, 9, 118, 10, 119], 1));
    await flush();
    runs[0].finish();
    await flush();
    const second = runs[1].items.map((i) => i.length).sort((a, b) => a - b);
    // Oldest queued is id 1 (length 8): its batch is the short ones.
    expect(second).toEqual([8, 9, 10]);
    runs[1].finish();
    await flush();
    expect(runs[2].items.map((i) => i.length).sort((a, b) => a - b)).toEqual([118, 119, 120]);
    expect(batcher.stats.paddedTokens).toBe(100 + 3 * 10 + 3 * 120);
    expect(batcher.stats.realTokens).toBe(100 + 8 + 9 + 10 + 118 + 119 + 120);
  });

  it('gives up its queue on drain(): nothing drained is batched afterwards', async () => {
    const { batcher, runs } = harness({ maxSize: 2, maxWaitMs: 0, maxTokens: 10_000 });
    batcher.push(items([4, 4, 4, 4]));
    await flush();
    expect(runs).toHaveLength(1);
    expect(batcher.drain().map((i) => i.id)).toEqual([2, 3]);
    runs[0].finish();
    await flush();
    expect(runs).toHaveLength(1);
    expect(batcher.queued).toBe(0);
  });

  it('holds records for companions while they keep arriving, up to maxWaitMs', async () => {
    jest.useFakeTimers();
    const { batcher, runs, advance } = harness({ maxSize: 4, maxWaitMs: 50, maxTokens: 10_000 });
    // A steady stream, one record every 5 ms.
    batcher.push(items([5]));
    // First record of a quiet stream runs at once.
    await Promise.resolve();
    expect(runs).toHaveLength(1);
    runs[0].finish();
    await jest.advanceTimersByTimeAsync(0);
    for (let i = 1; i <= 3; i++) {
      advance(5);
      batcher.push(items([5], i));
      await jest.advanceTimersByTimeAsync(0);
    }
    // Arrivals every 5 ms < the wait left: the batcher waits for a fuller batch...
    expect(runs).toHaveLength(1);
    advance(5);
    batcher.push(items([5], 4));
    await jest.advanceTimersByTimeAsync(0);
    // ...and runs as soon as it is full.
    expect(runs).toHaveLength(2);
    expect(runs[1].items).toHaveLength(4);
  });

  it("picks batches among the oldest 8 batches' worth of records only, so none overtakes far", async () => {
    const { batcher, runs, advance } = harness({ maxSize: 2, maxWaitMs: 0, maxTokens: 10_000 });
    batcher.push(items([50])); // occupies the session
    await flush();
    advance(1);
    // 16 long records (the window), then a short one that would pair with the oldest short one.
    batcher.push(items([5, ...Array(15).fill(40)], 1));
    advance(1);
    batcher.push(items([5], 17));
    runs[0].finish();
    await flush();
    // Without the window the two 5s would go together; the second one is outside it.
    expect(runs[1].items.map((i) => i.id)).toContain(1);
    expect(runs[1].items.map((i) => i.id)).not.toContain(17);
  });
});
