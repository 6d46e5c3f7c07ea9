import type { Logger } from '@nestjs/common';
import type { Message } from 'kafkajs';
import { KafkaProducerAdapter } from './kafka-producer.adapter';
import { sendUntilAcked } from './send-until-acked';

type Batches = { topic: string; messages: Message[] }[];

function fakeProducer() {
  return { sendBatch: jest.fn<Promise<void>, [Batches]>() };
}
const asAdapter = (fake: ReturnType<typeof fakeProducer>) => fake as unknown as KafkaProducerAdapter;
const fakeLogger = () => ({ warn: jest.fn<void, [string]>() });
const asLogger = (fake: ReturnType<typeof fakeLogger>) => fake as unknown as Logger;

const BATCHES: Batches = [
  { topic: 'predictions', messages: [{ key: 'a', value: Buffer.from([0, 1]) }] },
  { topic: 'tokenized.dlq', messages: [{ key: 'b', value: Buffer.from([2]) }] },
];

describe('sendUntilAcked', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('sends once when the broker acknowledges', async () => {
    const producer = fakeProducer();
    producer.sendBatch.mockResolvedValue(undefined);
    const logger = fakeLogger();
    await sendUntilAcked(asAdapter(producer), BATCHES, { logger: asLogger(logger), isStopping: () => false });
    expect(producer.sendBatch).toHaveBeenCalledTimes(1);
    expect(producer.sendBatch).toHaveBeenCalledWith(BATCHES);
    expect(logger.warn).not.toHaveBeenCalled();
  });

  it('retries the same batches with doubling, capped backoff until the producer succeeds', async () => {
    const producer = fakeProducer();
    producer.sendBatch
      .mockRejectedValueOnce(new Error('broker down'))
      .mockRejectedValueOnce(new Error('broker down'))
      .mockRejectedValueOnce(new Error('not leader'))
      .mockResolvedValue(undefined);
    const logger = fakeLogger();
    let settled = false;
    const done = sendUntilAcked(asAdapter(producer), BATCHES, {
      logger: asLogger(logger),
      isStopping: () => false,
      maxBackoffMs: 300,
    }).finally(() => (settled = true));

    await jest.advanceTimersByTimeAsync(99);
    expect(producer.sendBatch).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1); // 100 ms
    expect(producer.sendBatch).toHaveBeenCalledTimes(2);
    await jest.advanceTimersByTimeAsync(200);
    expect(producer.sendBatch).toHaveBeenCalledTimes(3);
    expect(settled).toBe(false);
    await jest.advanceTimersByTimeAsync(300); // capped (would be 400)
    await expect(done).resolves.toBeUndefined();

    expect(producer.sendBatch).toHaveBeenCalledTimes(4);
    for (const [batches] of producer.sendBatch.mock.calls) expect(batches).toBe(BATCHES);
    expect(logger.warn.mock.calls.map(([m]) => m)).toEqual([
      'produce failed (broker down); retrying in 100 ms',
      'produce failed (broker down); retrying in 200 ms',
      'produce failed (not leader); retrying in 300 ms',
    ]);
  });

  it('gives up and throws once isStopping returns true, so the input stays uncommitted', async () => {
    const producer = fakeProducer();
    let stopping = false;
    producer.sendBatch.mockImplementation(async () => {
      // SIGTERM arrives while the third attempt is failing.
      if (producer.sendBatch.mock.calls.length === 3) stopping = true;
      throw new Error(`broker down #${producer.sendBatch.mock.calls.length}`);
    });
    const outcome = sendUntilAcked(asAdapter(producer), BATCHES, {
      logger: asLogger(fakeLogger()),
      isStopping: () => stopping,
    }).catch((e: unknown) => e);

    await jest.advanceTimersByTimeAsync(100 + 200);
    const error = await outcome;
    expect((error as Error).message).toBe('broker down #3');
    await jest.advanceTimersByTimeAsync(60_000);
    expect(producer.sendBatch).toHaveBeenCalledTimes(3);
  });

  it('throws at once when already stopping', async () => {
    const producer = fakeProducer();
    producer.sendBatch.mockRejectedValue(new Error('broker down'));
    await expect(
      sendUntilAcked(asAdapter(producer), BATCHES, { logger: asLogger(fakeLogger()), isStopping: () => true }),
    ).rejects.toThrow('broker down');
    expect(producer.sendBatch).toHaveBeenCalledTimes(1);
  });
});
