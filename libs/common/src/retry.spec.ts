import { backoffFor, retry } from './retry';

class Transient extends Error {}
class Permanent extends Error {}
const isRetriable = (error: unknown) => error instanceof Transient;

describe('retry', () => {
  const sleeps = () => jest.fn(async (_ms: number) => undefined);

  it('returns the first success without sleeping', async () => {
    const sleep = sleeps();
    await expect(retry(async () => 'ok', { retries: 3, initialBackoffMs: 10, isRetriable, sleep })).resolves.toBe('ok');
    expect(sleep).not.toHaveBeenCalled();
  });

  it('never retries a non-retriable error', async () => {
    const sleep = sleeps();
    const fn = jest.fn(async () => {
      throw new Permanent('bad record');
    });
    await expect(retry(fn, { retries: Infinity, initialBackoffMs: 10, isRetriable, sleep })).rejects.toThrow(Permanent);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(sleep).not.toHaveBeenCalled();
  });

  it('retries a retriable error `retries` times with doubling backoff, then throws the last one', async () => {
    const sleep = sleeps();
    let calls = 0;
    const fn = jest.fn(async () => {
      throw new Transient(`down #${++calls}`);
    });
    await expect(retry(fn, { retries: 4, initialBackoffMs: 50, isRetriable, sleep })).rejects.toThrow('down #5');
    expect(sleep.mock.calls.map(([ms]) => ms)).toEqual([50, 100, 200, 400]);
  });

  it('caps the backoff and retries forever until success', async () => {
    const sleep = sleeps();
    const fn = jest.fn(async (attempt: number) => {
      if (attempt < 8) throw new Transient('down');
      return attempt;
    });
    await expect(retry(fn, { retries: Infinity, initialBackoffMs: 100, maxBackoffMs: 1000, sleep })).resolves.toBe(8);
    expect(Math.max(...sleep.mock.calls.map(([ms]) => ms))).toBe(1000);
  });

  it('stops retrying once the process is stopping', async () => {
    let stopping = false;
    const sleep = jest.fn(async () => void (stopping = true));
    const fn = jest.fn(async () => {
      throw new Transient('down');
    });
    await expect(
      retry(fn, { retries: Infinity, initialBackoffMs: 1, isRetriable, sleep, isStopping: () => stopping }),
    ).rejects.toThrow('down');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('tells onRetry about each retried failure', async () => {
    const onRetry = jest.fn();
    const fn = jest.fn<Promise<string>, [number]>().mockRejectedValueOnce(new Transient('a')).mockResolvedValue('b');
    await retry(fn, { retries: 2, initialBackoffMs: 7, sleep: sleeps(), onRetry });
    expect(onRetry).toHaveBeenCalledWith(expect.any(Transient), 1, 7);
  });

  it('computes capped exponential backoff', () => {
    expect([0, 1, 2, 3].map((a) => backoffFor(a, 100, 500))).toEqual([100, 200, 400, 500]);
  });
});
