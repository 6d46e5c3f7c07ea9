import { deferred } from '@app/testing';
import type { TopicPartitionOffsetAndMetadata } from 'kafkajs';
import { OffsetTracker } from './offset-tracker';

const flush = () => new Promise((r) => setImmediate(r));

/** A tracker with a commit interval, and the commits it made. */
function spacedTracker(minIntervalMs: number) {
  const spaced: TopicPartitionOffsetAndMetadata[][] = [];
  const slow = new OffsetTracker(
    async (offsets) => {
      spaced.push(offsets);
    },
    undefined,
    500,
    minIntervalMs,
  );
  return { spaced, slow };
}

describe('OffsetTracker', () => {
  let commits: TopicPartitionOffsetAndMetadata[][];
  let tracker: OffsetTracker;
  const noFailure = () => {
    throw new Error('unexpected failure');
  };

  beforeEach(() => {
    commits = [];
    tracker = new OffsetTracker(async (offsets) => {
      commits.push(offsets);
    });
  });
  afterEach(() => tracker.stop());

  it('commits a partition only past the longest finished prefix, whatever order chunks finish in', async () => {
    const a = deferred();
    const b = deferred();
    const c = deferred();
    tracker.track('t', 0, '0', '9', a.promise, noFailure);
    tracker.track('t', 0, '10', '19', b.promise, noFailure);
    tracker.track('t', 0, '20', '29', c.promise, noFailure);

    b.resolve();
    c.resolve();
    await flush();
    expect(commits).toEqual([]);

    a.resolve();
    await flush();
    expect(commits).toEqual([[{ topic: 't', partition: 0, offset: '30' }]]);
  });

  it('keeps partitions independent and coalesces commits into one request in flight', async () => {
    let release!: () => void;
    const slow = new OffsetTracker(async (offsets) => {
      commits.push(offsets);
      if (commits.length === 1) await new Promise<void>((r) => (release = r));
    });
    const p0 = deferred();
    const p1 = deferred();
    const p2 = deferred();
    slow.track('t', 0, '0', '4', p0.promise, noFailure);
    slow.track('t', 1, '0', '7', p1.promise, noFailure);
    slow.track('t', 2, '0', '2', p2.promise, noFailure);
    p0.resolve();
    await flush();
    p1.resolve();
    p2.resolve();
    await flush();
    expect(commits).toHaveLength(1); // the second waits for the first
    release();
    await flush();
    await flush();
    expect(commits).toEqual([
      [{ topic: 't', partition: 0, offset: '5' }],
      [
        { topic: 't', partition: 1, offset: '8' },
        { topic: 't', partition: 2, offset: '3' },
      ],
    ]);
    slow.stop();
  });

  it('recognises a re-fetch of offsets still in flight as duplicates', () => {
    tracker.track('t', 0, '5', '9', new Promise(() => undefined), noFailure);
    expect(tracker.isDuplicate('t', 0, '9')).toBe(true);
    expect(tracker.isDuplicate('t', 0, '10')).toBe(false);
    expect(tracker.isDuplicate('t', 1, '0')).toBe(false);
  });

  it('on a failed chunk commits what finished before it, forgets what came after, and asks for a rewind', async () => {
    const a = deferred();
    const b = deferred();
    const c = deferred();
    const rewinds: string[] = [];
    tracker.track('t', 0, '0', '9', a.promise, noFailure);
    tracker.track('t', 0, '10', '19', b.promise, (first) => rewinds.push(first));
    tracker.track('t', 0, '20', '29', c.promise, noFailure);
    a.resolve();
    b.reject(new Error('model failed'));
    c.resolve();
    await flush();
    expect(rewinds).toEqual(['10']);
    expect(commits).toEqual([[{ topic: 't', partition: 0, offset: '10' }]]);
    // The rewound offsets are fetched again and are not duplicates.
    expect(tracker.isDuplicate('t', 0, '10')).toBe(false);
    await expect(tracker.drained()).resolves.toBeUndefined();
  });

  it('drained() waits until everything tracked is finished and committed', async () => {
    const a = deferred();
    tracker.track('t', 0, '0', '3', a.promise, noFailure);
    let drained = false;
    const waiting = tracker.drained().then(() => (drained = true));
    await flush();
    expect(drained).toBe(false);
    a.resolve();
    await waiting;
    expect(commits).toEqual([[{ topic: 't', partition: 0, offset: '4' }]]);
  });

  it('retries a refused commit and drops partitions a rebalance took away', async () => {
    let refuse = true;
    const retrying = new OffsetTracker(
      async (offsets) => {
        commits.push(offsets);
        if (refuse) throw new Error('REBALANCE_IN_PROGRESS');
      },
      () => undefined,
      5,
    );
    retrying.track('t', 0, '0', '0', Promise.resolve(), noFailure);
    retrying.track('t', 1, '0', '0', new Promise(() => undefined), noFailure);
    await flush();
    refuse = false;
    retrying.retain([{ topic: 't', partition: 0 }]);
    await retrying.drained();
    expect(commits.at(-1)).toEqual([{ topic: 't', partition: 0, offset: '1' }]);
    expect(retrying.inFlight).toBe(0);
    retrying.stop();
  });

  it('with a commit interval, coalesces what finishes within it into the next commit', async () => {
    const { spaced, slow } = spacedTracker(200);
    try {
      for (let i = 0; i < 3; i++) slow.track('t', 0, String(i * 10), String(i * 10 + 9), Promise.resolve(), noFailure);
      await flush();
      // The first commit goes at once; the two chunks finished right after wait for the interval.
      expect(spaced.map((c) => c[0].offset)).toEqual(['10']);
      await new Promise((r) => setTimeout(r, 50));
      expect(spaced).toHaveLength(1);
      await slow.drained();
      expect(spaced.map((c) => c[0].offset)).toEqual(['10', '30']);
    } finally {
      slow.stop();
    }
  });

  it('a drain does not wait out the commit interval: it commits what is finished at once', async () => {
    const { spaced, slow } = spacedTracker(60_000);
    try {
      slow.track('t', 0, '0', '9', Promise.resolve(), noFailure);
      await flush();
      slow.track('t', 0, '10', '19', Promise.resolve(), noFailure);
      await flush();
      expect(spaced.map((c) => c[0].offset)).toEqual(['10']);
      const outcome = await Promise.race([
        slow.drained().then(() => 'drained'),
        new Promise((r) => setTimeout(() => r('still waiting'), 1_000)),
      ]);
      expect(outcome).toBe('drained');
      expect(spaced.map((c) => c[0].offset)).toEqual(['10', '20']);
    } finally {
      slow.stop();
    }
  });
});
