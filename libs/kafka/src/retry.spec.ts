import { retryForever, withRetries } from './retry';

class Transient extends Error {}
class Permanent extends Error {}

const isTransient = (error: unknown) => error instanceof Transient;

describe('withRetries', () => {
  it('returns the first success without sleeping', async () => {
    const sleep = jest.fn(async (_ms: number) => undefined);
    await expect(withRetries(async () => 'ok', { maxRetries: 3, backoffMs: 10, isTransient, sleep })).resolves.toBe(
      'ok',
    );
    expect(sleep).not.toHaveBeenCalled();
  });

  it('does not retry a permanent error', async () => {
    const sleep = jest.fn(async (_ms: number) => undefined);
    const fn = jest.fn(async () => {
      throw new Permanent('bad record');
    });
    await expect(withRetries(fn, { maxRetries: 5, backoffMs: 10, isTransient, sleep })).rejects.toThrow(Permanent);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(sleep).not.toHaveBeenCalled();
  });

  it('retries a transient error up to maxRetries times, then throws the last one', async () => {
    const sleep = jest.fn(async (_ms: number) => undefined);
    let calls = 0;
    const fn = jest.fn(async () => {
      throw new Transient(`down #${++calls}`);
    });
    await expect(withRetries(fn, { maxRetries: 3, backoffMs: 100, isTransient, sleep })).rejects.toThrow('down #4');
    expect(fn).toHaveBeenCalledTimes(4);
  });

  it('doubles the backoff between attempts', async () => {
    const sleep = jest.fn(async (_ms: number) => undefined);
    const fn = jest.fn(async () => {
      throw new Transient('down');
    });
    await expect(withRetries(fn, { maxRetries: 4, backoffMs: 50, isTransient, sleep })).rejects.toThrow(Transient);
    expect(sleep.mock.calls.map(([ms]) => ms)).toEqual([50, 100, 200, 400]);
  });

  it('succeeds after transient failures', async () => {
    const sleep = jest.fn(async (_ms: number) => undefined);
    const fn = jest
      .fn<Promise<string>, []>()
      .mockRejectedValueOnce(new Transient('a'))
      .mockRejectedValueOnce(new Transient('b'))
      .mockResolvedValue('done');
    await expect(withRetries(fn, { maxRetries: 2, backoffMs: 1, isTransient, sleep })).resolves.toBe('done');
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('stops retrying when a transient error turns permanent', async () => {
    const sleep = jest.fn(async (_ms: number) => undefined);
    const fn = jest
      .fn<Promise<string>, []>()
      .mockRejectedValueOnce(new Transient('a'))
      .mockRejectedValue(new Permanent('b'));
    await expect(withRetries(fn, { maxRetries: 5, backoffMs: 1, isTransient, sleep })).rejects.toThrow(Permanent);
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('with maxRetries 0 runs once', async () => {
    const fn = jest.fn(async () => {
      throw new Transient('down');
    });
    await expect(withRetries(fn, { maxRetries: 0, backoffMs: 1, isTransient })).rejects.toThrow(Transient);
    expect(fn).toHaveBeenCalledTimes(1);
  });
});

describe('retryForever', () => {
  const logger = () => ({ warn: jest.fn<void, [string]>(), log: jest.fn<void, [string]>() });

  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('retries with doubling, capped backoff until fn succeeds', async () => {
    const log = logger();
    const fn = jest
      .fn<Promise<void>, []>()
      .mockRejectedValueOnce(new Error('down 1'))
      .mockRejectedValueOnce(new Error('down 2'))
      .mockRejectedValueOnce(new Error('down 3'))
      .mockResolvedValue(undefined);
    const done = retryForever(fn, { what: 'connect', logger: log, isStopping: () => false, maxBackoffMs: 600 });

    await jest.advanceTimersByTimeAsync(249);
    expect(fn).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(fn).toHaveBeenCalledTimes(2);
    await jest.advanceTimersByTimeAsync(500);
    expect(fn).toHaveBeenCalledTimes(3);
    await jest.advanceTimersByTimeAsync(600);
    await expect(done).resolves.toBeUndefined();
    expect(fn).toHaveBeenCalledTimes(4);

    expect(log.warn.mock.calls.map(([m]) => m)).toEqual([
      'connect failed (down 1); retrying in 250 ms',
      'connect failed (down 2); retrying in 500 ms',
      'connect failed (down 3); retrying in 600 ms',
    ]);
    expect(log.log).toHaveBeenCalledWith('connect: done after 4 attempts');
  });

  it('does not log a recovery when the first attempt succeeds', async () => {
    const log = logger();
    await retryForever(async () => undefined, { what: 'x', logger: log, isStopping: () => false });
    expect(log.log).not.toHaveBeenCalled();
    expect(log.warn).not.toHaveBeenCalled();
  });

  it('stops and rethrows once isStopping returns true', async () => {
    const log = logger();
    let stopping = false;
    let calls = 0;
    const fn = jest.fn(async () => {
      // The process starts stopping while the third attempt is failing.
      if (++calls === 3) stopping = true;
      throw new Error(`still down #${calls}`);
    });
    const outcome = retryForever(fn, { what: 'connect', logger: log, isStopping: () => stopping }).catch(
      (e: unknown) => e,
    );
    await jest.advanceTimersByTimeAsync(250 + 500);
    const error = await outcome;
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('still down #3');
    expect(log.warn).toHaveBeenCalledTimes(2);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(fn).toHaveBeenCalledTimes(3);
  });
});
