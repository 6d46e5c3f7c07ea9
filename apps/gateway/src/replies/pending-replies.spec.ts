import type { Prediction } from '@app/avro';
import { PendingReplies, ReplyTimeoutError } from './pending-replies';

const prediction = (id: string, label = 'spam'): Prediction => ({
  id,
  label,
  score: 0.9,
  scores: { ham: 0.1, spam: 0.9 },
  model: 'minilm-spam',
  modelVersion: '1',
  createdAt: 1,
  tokenizedAt: 2,
  predictedAt: 3,
  batchSize: 1,
  truncated: false,
  source: 'gateway',
  metadata: {},
});

describe('PendingReplies', () => {
  let pending: PendingReplies;

  beforeEach(() => {
    jest.useFakeTimers();
    pending = new PendingReplies();
  });
  afterEach(() => jest.useRealTimers());

  it('resolves a waiter with its prediction and forgets it', async () => {
    const reply = pending.wait('a', 1_000);
    expect(pending.has('a')).toBe(true);
    expect(pending.size).toBe(1);
    expect(pending.deliver(prediction('a'))).toBe(true);
    await expect(reply).resolves.toEqual(prediction('a'));
    expect(pending.has('a')).toBe(false);
    expect(pending.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('matches each prediction to its own waiter', async () => {
    const a = pending.wait('a', 1_000);
    const b = pending.wait('b', 1_000);
    pending.deliver(prediction('b', 'ham'));
    pending.deliver(prediction('a', 'spam'));
    await expect(a).resolves.toMatchObject({ id: 'a', label: 'spam' });
    await expect(b).resolves.toMatchObject({ id: 'b', label: 'ham' });
  });

  it('ignores a duplicate delivery (at-least-once)', async () => {
    const reply = pending.wait('a', 1_000);
    expect(pending.deliver(prediction('a', 'spam'))).toBe(true);
    expect(pending.deliver(prediction('a', 'ham'))).toBe(false);
    await expect(reply).resolves.toMatchObject({ label: 'spam' });
  });

  it("ignores another instance's id", () => {
    pending.wait('mine', 1_000).catch(() => undefined);
    expect(pending.deliver(prediction('theirs'))).toBe(false);
    expect(pending.has('mine')).toBe(true);
  });

  it('rejects with ReplyTimeoutError after the timeout, and not before', async () => {
    const reply = pending.wait('slow', 500);
    const outcome = reply.catch((e: unknown) => e);
    jest.advanceTimersByTime(499);
    expect(pending.has('slow')).toBe(true);
    jest.advanceTimersByTime(1);
    const error = await outcome;
    expect(error).toBeInstanceOf(ReplyTimeoutError);
    expect((error as Error).name).toBe('ReplyTimeoutError');
    expect((error as Error).message).toBe('no prediction for slow within 500 ms');
    expect(pending.has('slow')).toBe(false);
    expect(pending.deliver(prediction('slow'))).toBe(false);
  });

  it('cancel rejects the waiter with the given error and clears its timer', async () => {
    const reply = pending.wait('a', 1_000);
    const reason = new Error('Kafka did not accept the texts');
    pending.cancel('a', reason);
    await expect(reply).rejects.toBe(reason);
    expect(pending.has('a')).toBe(false);
    expect(jest.getTimerCount()).toBe(0);
    expect(pending.deliver(prediction('a'))).toBe(false);
  });

  it('cancel of an unknown id does nothing', () => {
    const reply = pending.wait('a', 1_000);
    reply.catch(() => undefined);
    expect(() => pending.cancel('other', new Error('x'))).not.toThrow();
    expect(pending.has('a')).toBe(true);
  });
});
