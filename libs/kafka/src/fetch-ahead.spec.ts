import { deferred } from '@app/testing';
import { Logger } from '@nestjs/common';
import type { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import { FetchAhead } from './fetch-ahead';
import { AbandonedError } from './offset-tracker';

/** A kafkajs consumer stub: records commits, seeks, pauses and resumes. */
function stubConsumer() {
  const listeners = new Map<string, (e: unknown) => void>();
  const calls = { commits: [] as unknown[], seeks: [] as unknown[], paused: 0, resumed: 0 };
  const consumer = {
    events: { GROUP_JOIN: 'join', HEARTBEAT: 'heartbeat' },
    on: (event: string, fn: (e: unknown) => void) => listeners.set(event, fn),
    commitOffsets: jest.fn(async (offsets: unknown) => void calls.commits.push(offsets)),
    seek: jest.fn((s: unknown) => void calls.seeks.push(s)),
    pause: jest.fn(() => void calls.paused++),
    resume: jest.fn(() => void calls.resumed++),
  };
  return {
    consumer: consumer as unknown as Consumer,
    calls,
    join: (a: unknown) => listeners.get('join')!({ payload: a }),
    /** kafkajs's HEARTBEAT event: a heartbeat succeeded now. */
    beat: () => listeners.get('heartbeat')!({ payload: {} }),
  };
}

function payload(
  partition: number,
  offsets: number[],
  stale = false,
  heartbeat: () => Promise<void> = async () => undefined,
) {
  const resolved: string[] = [];
  const messages = offsets.map((o) => ({ offset: String(o), key: null, value: Buffer.from('x') }) as KafkaMessage);
  const p = {
    batch: { topic: 't', partition, messages, lastOffset: () => String(offsets[offsets.length - 1]) },
    resolveOffset: (o: string) => resolved.push(o),
    isStale: () => stale,
    heartbeat,
  } as unknown as EachBatchPayload;
  return { p, resolved };
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};
const logger = () => {
  const l = new Logger('test');
  jest.spyOn(l, 'error').mockImplementation(() => undefined);
  jest.spyOn(l, 'warn').mockImplementation(() => undefined);
  return l;
};

describe('FetchAhead', () => {
  it('returns before the work is acknowledged, and commits only after', async () => {
    const { consumer, calls } = stubConsumer();
    const fa = new FetchAhead(consumer, { maxInFlight: 100, revokeTimeoutMs: 1000, logger: logger() });
    const work = deferred();
    const { p, resolved } = payload(0, [5, 6, 7]);
    await fa.accept(p, () => work.promise);
    expect(resolved).toEqual(['7']); // the fetch position moved on
    expect(fa.inFlightRecords).toBe(3);
    await flush();
    expect(calls.commits).toEqual([]);
    work.resolve();
    await flush();
    expect(calls.commits).toEqual([[{ topic: 't', partition: 0, offset: '8' }]]);
    expect(fa.inFlightRecords).toBe(0);
  });

  it('hands over only records not already in flight after a re-fetch', async () => {
    const { consumer } = stubConsumer();
    const fa = new FetchAhead(consumer, { maxInFlight: 100, revokeTimeoutMs: 1000, logger: logger() });
    const seen: string[][] = [];
    const handle = async (m: KafkaMessage[]) => void seen.push(m.map((x) => x.offset));
    await fa.accept(payload(0, [0, 1, 2]).p, () => new Promise(() => undefined));
    await fa.accept(payload(0, [0, 1, 2, 3, 4]).p, handle);
    await flush();
    expect(seen).toEqual([['3', '4']]);
  });

  it('hands over nothing below the first offset beforeHandle answers (already committed), and moves past it', async () => {
    const { consumer } = stubConsumer();
    const fa = new FetchAhead(consumer, {
      maxInFlight: 100,
      revokeTimeoutMs: 1000,
      logger: logger(),
      beforeHandle: (_topic, partition) => Promise.resolve(partition === 0 ? 3n : undefined),
    });
    const seen: string[][] = [];
    const handle = async (m: KafkaMessage[]) => void seen.push(m.map((x) => x.offset));
    const below = payload(0, [0, 1, 2]);
    await fa.accept(below.p, handle);
    const across = payload(0, [2, 3, 4]);
    await fa.accept(across.p, handle);
    await fa.accept(payload(1, [0, 1]).p, handle);
    await flush();
    expect(seen).toEqual([
      ['3', '4'],
      ['0', '1'],
    ]);
    expect([below.resolved, across.resolved]).toEqual([['2'], ['4']]);
    expect(fa.inFlightRecords).toBe(0);
  });

  it('skips a stale batch without handing it over or moving the position', async () => {
    const { consumer } = stubConsumer();
    const fa = new FetchAhead(consumer, { maxInFlight: 100, revokeTimeoutMs: 1000, logger: logger() });
    const handle = jest.fn(async () => undefined);
    const { p, resolved } = payload(0, [0], true);
    await fa.accept(p, handle);
    expect(handle).not.toHaveBeenCalled();
    expect(resolved).toEqual([]);
  });

  it('rewinds the partition to the first record of a failed hand-over', async () => {
    const { consumer, calls } = stubConsumer();
    const fa = new FetchAhead(consumer, { maxInFlight: 100, revokeTimeoutMs: 1000, logger: logger() });
    await fa.accept(payload(2, [10, 11]).p, async () => {
      throw new Error('boom');
    });
    await flush();
    expect(calls.seeks).toEqual([{ topic: 't', partition: 2, offset: '10' }]);
    expect(calls.commits).toEqual([]);
  });

  it('above the high-water mark holds eachBatch (so kafkajs fetches nothing more) until below half, heartbeating meanwhile', async () => {
    jest.useFakeTimers();
    try {
      const { consumer, calls } = stubConsumer();
      const states: boolean[] = [];
      const fa = new FetchAhead(consumer, {
        maxInFlight: 4,
        revokeTimeoutMs: 1000,
        logger: logger(),
        onPaused: (p) => states.push(p),
      });
      const a = deferred();
      const b = deferred();
      await fa.accept(payload(0, [0, 1, 2]).p, () => a.promise);
      const heartbeat = jest.fn(async () => undefined);
      let returned = false;
      const held = fa.accept(payload(1, [0, 1, 2], false, heartbeat).p, () => b.promise).then(() => (returned = true));
      await jest.advanceTimersByTimeAsync(2_500);
      expect(returned).toBe(false);
      expect(states).toEqual([true]);
      expect(heartbeat.mock.calls.length).toBeGreaterThanOrEqual(3); // the first, then one a second
      a.resolve(); // 3 left in flight: not below half of 4 yet
      await jest.advanceTimersByTimeAsync(100);
      expect(returned).toBe(false);
      b.resolve();
      await jest.advanceTimersByTimeAsync(100);
      await held;
      expect(states).toEqual([true, false]);
      expect(calls.paused).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  it('a rebalance seen while held back makes the member commit what it holds, then rejoin', async () => {
    jest.useFakeTimers();
    try {
      const { consumer, calls } = stubConsumer();
      const fa = new FetchAhead(consumer, { maxInFlight: 2, revokeTimeoutMs: 5_000, logger: logger() });
      const work = deferred();
      let beats = 0;
      const rebalancing = Object.assign(new Error('rebalancing'), { type: 'REBALANCE_IN_PROGRESS' });
      const heartbeat = () => (++beats > 1 ? Promise.reject(rebalancing) : Promise.resolve());
      const held = fa.accept(payload(0, [0, 1, 2], false, heartbeat).p, () => work.promise);
      let outcome: unknown;
      void held.catch((e: unknown) => (outcome = e));
      await jest.advanceTimersByTimeAsync(1_500);
      expect(outcome).toBeUndefined(); // waiting for its work before rejoining
      work.resolve();
      await jest.advanceTimersByTimeAsync(100);
      expect(outcome).toBe(rebalancing);
      expect(calls.commits).toEqual([[{ topic: 't', partition: 0, offset: '3' }]]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('drain() pauses, waits for acks and commits, and reports a timeout', async () => {
    const { consumer, calls } = stubConsumer();
    const fa = new FetchAhead(consumer, { maxInFlight: 100, revokeTimeoutMs: 1000, logger: logger() });
    const work = deferred();
    await fa.accept(payload(0, [0]).p, () => work.promise);
    const draining = fa.drain(['t'], 5_000);
    await flush();
    expect(calls.paused).toBe(1);
    work.resolve();
    await expect(draining).resolves.toBe(true);
    expect(calls.commits).toEqual([[{ topic: 't', partition: 0, offset: '1' }]]);

    const stuck = new FetchAhead(consumer, { maxInFlight: 100, revokeTimeoutMs: 1000, logger: logger() });
    await stuck.accept(payload(0, [1]).p, () => new Promise(() => undefined));
    await expect(stuck.drain(['t'], 20)).resolves.toBe(false);
  });

  it('forgets partitions a rebalance took away', async () => {
    const { consumer, join } = stubConsumer();
    const fa = new FetchAhead(consumer, { maxInFlight: 100, revokeTimeoutMs: 1000, logger: logger() });
    await fa.accept(payload(0, [0]).p, () => new Promise(() => undefined));
    join({ memberAssignment: { t: [1] } });
    await expect(fa.drain(['t'], 1_000)).resolves.toBe(true);
  });

  it('on a rebalance, commits what it holds once acknowledged, and only then lets kafkajs rejoin', async () => {
    const { consumer, calls, join } = stubConsumer();
    const running = deferred();
    const queued = deferred();
    const abandonQueued = jest.fn();
    const fa = new FetchAhead(consumer, { maxInFlight: 100, revokeTimeoutMs: 5_000, logger: logger(), abandonQueued });
    await fa.accept(payload(0, [0, 1]).p, () => running.promise);
    await fa.accept(payload(1, [0]).p, () => queued.promise);
    const rebalancing = Object.assign(new Error('The group is rebalancing'), { type: 'REBALANCE_IN_PROGRESS' });
    const seen = fa.accept(
      payload(2, [0], false, async () => {
        throw rebalancing;
      }).p,
      () => Promise.resolve(),
    );
    let rejoined = false;
    void seen.catch(() => (rejoined = true));
    running.resolve();
    await flush();
    expect(rejoined).toBe(false); // partition 1 still in flight
    expect(calls.commits).toEqual([[{ topic: 't', partition: 0, offset: '2' }]]);
    queued.resolve();
    await expect(seen).rejects.toBe(rebalancing);
    expect(calls.commits).toEqual([
      [{ topic: 't', partition: 0, offset: '2' }],
      [{ topic: 't', partition: 1, offset: '1' }],
    ]);
    expect(abandonQueued).not.toHaveBeenCalled();
    // Until the rejoin, nothing new is taken (kafkajs re-reads from the commit afterwards).
    const late = jest.fn(() => Promise.resolve());
    await fa.accept(payload(0, [2]).p, late);
    expect(late).not.toHaveBeenCalled();
    join({ memberAssignment: { t: [0, 1] } });
    await fa.accept(payload(1, [1]).p, late);
    expect(late).toHaveBeenCalledTimes(1);
  });

  it('rejoins after revokeTimeoutMs even if the work has not finished, dropping what is still queued', async () => {
    const { consumer, calls } = stubConsumer();
    const queued = deferred();
    const abandonQueued = jest.fn(() => queued.reject(new AbandonedError('dropped')));
    const fa = new FetchAhead(consumer, { maxInFlight: 100, revokeTimeoutMs: 20, logger: logger(), abandonQueued });
    await fa.accept(payload(0, [0]).p, () => queued.promise);
    const rebalancing = Object.assign(new Error('rebalancing'), { type: 'REBALANCE_IN_PROGRESS' });
    await expect(
      fa.accept(payload(1, [0], false, () => Promise.reject(rebalancing)).p, async () => undefined),
    ).rejects.toBe(rebalancing);
    expect(abandonQueued).toHaveBeenCalledTimes(1);
    expect(calls.commits).toEqual([]);
    expect(calls.seeks).toEqual([]); // dropped work is re-read by the next owner, not sought back to
  });

  it('passes other heartbeat errors on to kafkajs without revoking', async () => {
    const { consumer } = stubConsumer();
    const abandonQueued = jest.fn();
    const fa = new FetchAhead(consumer, { maxInFlight: 100, revokeTimeoutMs: 20, logger: logger(), abandonQueued });
    const down = Object.assign(new Error('connection closed'), { type: 'NETWORK' });
    await expect(fa.accept(payload(0, [0], false, () => Promise.reject(down)).p, async () => undefined)).rejects.toBe(
      down,
    );
    expect(abandonQueued).not.toHaveBeenCalled();
  });

  it('carries on with a new consumer after a crash: nothing in flight is handed over twice, commits go through the new one', async () => {
    const first = stubConsumer();
    const fa = new FetchAhead(first.consumer, { maxInFlight: 100, revokeTimeoutMs: 1000, logger: logger() });
    const work = deferred();
    await fa.accept(payload(0, [0, 1]).p, () => work.promise);
    const second = stubConsumer();
    fa.attach(second.consumer);
    second.join({ memberAssignment: { t: [0] } });
    // The new consumer re-reads from the last commit: what is in flight is skipped.
    const again = jest.fn(() => Promise.resolve());
    await fa.accept(payload(0, [0, 1, 2]).p, again);
    expect(again).toHaveBeenCalledWith([expect.objectContaining({ offset: '2' })]);
    work.resolve();
    await flush();
    expect(first.calls.commits).toEqual([]);
    expect(second.calls.commits).toEqual([[{ topic: 't', partition: 0, offset: '3' }]]);
  });

  it('with one promise per record, commits record by record, past the last offset of the batch at the end', async () => {
    const { consumer, calls } = stubConsumer();
    const trimQueued = jest.fn();
    const fa = new FetchAhead(consumer, { maxInFlight: 100, revokeTimeoutMs: 1000, logger: logger(), trimQueued });
    const replies = [deferred(), deferred(), deferred()];
    await fa.accept(payload(0, [5, 6, 7]).p, () => replies.map((r) => r.promise));
    replies[1].resolve();
    await flush();
    expect(calls.commits).toEqual([]);
    replies[0].resolve();
    await flush();
    expect(calls.commits).toEqual([[{ topic: 't', partition: 0, offset: '7' }]]);
    const draining = fa.drain(['t'], 5_000);
    expect(trimQueued).toHaveBeenCalledTimes(1);
    replies[2].resolve();
    await expect(draining).resolves.toBe(true);
    expect(calls.commits[1]).toEqual([{ topic: 't', partition: 0, offset: '8' }]);
    expect(fa.inFlightRecords).toBe(0);
  });

  it('keeps heartbeating while it delays its rejoin, so the broker does not drop it meanwhile', async () => {
    jest.useFakeTimers();
    try {
      const { consumer } = stubConsumer();
      const work = deferred();
      const fa = new FetchAhead(consumer, { maxInFlight: 100, revokeTimeoutMs: 10_000, logger: logger() });
      await fa.accept(payload(0, [0]).p, () => work.promise);
      const rebalancing = Object.assign(new Error('rebalancing'), { type: 'REBALANCE_IN_PROGRESS' });
      const heartbeat = jest.fn(() => Promise.reject(rebalancing));
      const seen = fa.accept(payload(1, [0], false, heartbeat).p, async () => undefined);
      void seen.catch(() => undefined);
      await jest.advanceTimersByTimeAsync(3_500);
      expect(heartbeat).toHaveBeenCalledTimes(4); // the one that saw the rebalance, then one a second
      work.resolve();
      await expect(seen).rejects.toBe(rebalancing);
      await jest.advanceTimersByTimeAsync(3_000);
      expect(heartbeat).toHaveBeenCalledTimes(4);
    } finally {
      jest.useRealTimers();
    }
  });

  describe('the heartbeat that falls due while work is in flight', () => {
    const rebalancing = Object.assign(new Error('rebalancing'), { type: 'REBALANCE_IN_PROGRESS' });

    it('is sent from inside eachBatch, which commits before it lets kafkajs rejoin', async () => {
      jest.useFakeTimers({ now: 0 });
      try {
        const { consumer, calls, beat } = stubConsumer();
        const fa = new FetchAhead(consumer, {
          maxInFlight: 100,
          revokeTimeoutMs: 5_000,
          heartbeatIntervalMs: 1_000,
          logger: logger(),
        });
        beat(); // kafkajs heartbeated at t=0: the next one falls due at t=1000
        await jest.advanceTimersByTimeAsync(985); // within the lead (HEARTBEAT_LEAD_MS, 20 ms)
        const work = deferred();
        const beatsAt: number[] = [];
        // Like kafkajs's: a no-op before the interval has passed; after it, the broker says "rebalancing".
        const heartbeat = () => {
          if (Date.now() < 1_000) return Promise.resolve();
          beatsAt.push(Date.now());
          return Promise.reject(rebalancing);
        };
        let outcome: unknown = 'pending';
        void fa
          .accept(payload(0, [0, 1], false, heartbeat).p, () => work.promise)
          .then(
            () => (outcome = 'returned'),
            (e: unknown) => (outcome = e),
          );
        await jest.advanceTimersByTimeAsync(10);
        expect(outcome).toBe('pending'); // stays to send the heartbeat due at t=1000 itself
        await jest.advanceTimersByTimeAsync(100);
        expect(beatsAt[0]).toBeGreaterThanOrEqual(1_000);
        expect(outcome).toBe('pending'); // met the rebalance: waits for its work before rejoining
        work.resolve();
        await jest.advanceTimersByTimeAsync(10);
        expect(calls.commits).toEqual([[{ topic: 't', partition: 0, offset: '2' }]]);
        expect(outcome).toBe(rebalancing);
      } finally {
        jest.useRealTimers();
      }
    });

    it('is left to kafkajs when it is not due soon', async () => {
      jest.useFakeTimers({ now: 0 });
      try {
        const { consumer, beat } = stubConsumer();
        const fa = new FetchAhead(consumer, {
          maxInFlight: 100,
          revokeTimeoutMs: 5_000,
          heartbeatIntervalMs: 1_000,
          logger: logger(),
        });
        beat();
        await jest.advanceTimersByTimeAsync(500);
        const heartbeat = jest.fn(async () => undefined);
        await fa.accept(payload(0, [0], false, heartbeat).p, () => new Promise(() => undefined));
        expect(Date.now()).toBe(500); // returned without waiting
        expect(heartbeat).toHaveBeenCalledTimes(1); // only the one every batch starts with
      } finally {
        jest.useRealTimers();
      }
    });

    it('makes a batch that arrives while a revoke is under way return only once it is done', async () => {
      const { consumer } = stubConsumer();
      const fa = new FetchAhead(consumer, { maxInFlight: 100, revokeTimeoutMs: 5_000, logger: logger() });
      const work = deferred();
      await fa.accept(payload(0, [0]).p, () => work.promise);
      const revoking = fa.accept(payload(1, [0], false, () => Promise.reject(rebalancing)).p, async () => undefined);
      void revoking.catch(() => undefined);
      await flush(); // its heartbeat has met the rebalance
      let returned = false;
      void fa.accept(payload(2, [0]).p, async () => undefined).then(() => (returned = true));
      await flush();
      expect(returned).toBe(false);
      work.resolve();
      await expect(revoking).rejects.toBe(rebalancing);
      await flush();
      expect(returned).toBe(true);
    });
  });
});
