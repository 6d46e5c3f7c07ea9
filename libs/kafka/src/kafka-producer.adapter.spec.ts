import type { Kafka, Message, TopicMessages } from 'kafkajs';
import { KafkaProducerAdapter } from './kafka-producer.adapter';

/** A fake kafkajs producer whose sendBatch calls the test resolves by hand. */
function fakeKafka() {
  const producers: {
    sendBatch: jest.Mock;
    connect: jest.Mock;
    disconnect: jest.Mock;
    calls: { release: (e?: Error) => void; topicMessages: TopicMessages[] }[];
  }[] = [];
  const kafka = {
    producer: jest.fn(() => {
      const p = {
        calls: [] as { release: (e?: Error) => void; topicMessages: TopicMessages[] }[],
        connect: jest.fn(async () => undefined),
        disconnect: jest.fn(async () => undefined),
        on: jest.fn(),
        events: { DISCONNECT: 'disconnect' },
        sendBatch: jest.fn(
          ({ topicMessages }: { topicMessages: TopicMessages[] }) =>
            new Promise<[]>((resolve, reject) =>
              p.calls.push({ topicMessages, release: (e) => (e ? reject(e) : resolve([])) }),
            ),
        ),
      };
      producers.push(p);
      return p;
    }),
  };
  return { kafka: kafka as unknown as Kafka, producers };
}

const flush = () => new Promise((r) => setImmediate(r));
const msg = (v: string) => ({ key: v, value: Buffer.from(v) });

describe('KafkaProducerAdapter', () => {
  it('keeps one request in flight and coalesces what queues meanwhile into the next', async () => {
    const { kafka, producers } = fakeKafka();
    const adapter = new KafkaProducerAdapter(kafka);
    await adapter.connect();
    const first = adapter.send('t', [msg('a')]);
    await flush();
    const second = adapter.send('t', [msg('b')]);
    const third = adapter.sendBatch([{ topic: 'u', messages: [msg('c')] }]);
    await flush();
    expect(producers[0].calls).toHaveLength(1);
    producers[0].calls[0].release();
    await first;
    await flush();
    expect(producers[0].calls).toHaveLength(2);
    expect(producers[0].calls[1].topicMessages.map((t: TopicMessages) => t.topic)).toEqual(['t', 'u']);
    producers[0].calls[1].release();
    await expect(Promise.all([second, third])).resolves.toBeDefined();
  });

  it('replaces the producer after a sequence error and rejects the failed sends for the caller to retry', async () => {
    const { kafka, producers } = fakeKafka();
    const adapter = new KafkaProducerAdapter(kafka);
    await adapter.connect();
    const failed = adapter.send('t', [msg('a')]);
    await flush();
    producers[0].calls[0].release(
      Object.assign(new Error('The broker received an out of order sequence number'), {
        type: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
      }),
    );
    await expect(failed).rejects.toThrow(/out of order/);
    expect(producers).toHaveLength(2);
    expect(producers[0].disconnect).toHaveBeenCalled();
    const retried = adapter.send('t', [msg('a')]);
    await flush();
    expect(producers[1].calls).toHaveLength(1);
    producers[1].calls[0].release();
    await expect(retried).resolves.toBeUndefined();
  });

  it('keeps the producer on an ordinary error', async () => {
    const { kafka, producers } = fakeKafka();
    const adapter = new KafkaProducerAdapter(kafka);
    await adapter.connect();
    const failed = adapter.send('t', [msg('a')]);
    await flush();
    producers[0].calls[0].release(new Error('Request timed out'));
    await expect(failed).rejects.toThrow('Request timed out');
    expect(producers).toHaveLength(1);
  });

  it('splits what queued into requests of at most 512 KiB, in order', async () => {
    const { kafka, producers } = fakeKafka();
    const adapter = new KafkaProducerAdapter(kafka);
    await adapter.connect();
    const big = (name: string) => ({ key: name, value: Buffer.alloc(200 * 1024) });
    const first = adapter.send('t', [msg('a')]);
    await flush();
    const rest = ['b', 'c', 'd'].map((name) => adapter.send('t', [big(name)]));
    producers[0].calls[0].release();
    await first;
    await flush();
    const keys = () =>
      producers[0].calls.map((c) =>
        c.topicMessages.flatMap((t: TopicMessages) => t.messages.map((m: Message) => m.key)),
      );
    expect(keys()).toEqual([['a'], ['b', 'c']]);
    producers[0].calls[1].release();
    await flush();
    expect(keys()).toEqual([['a'], ['b', 'c'], ['d']]);
    producers[0].calls[2].release();
    await expect(Promise.all(rest)).resolves.toBeDefined();
  });

  it("when a coalesced request is refused for one send's records, sends each alone so only that caller fails", async () => {
    const { kafka, producers } = fakeKafka();
    const adapter = new KafkaProducerAdapter(kafka);
    await adapter.connect();
    const blocker = adapter.send('t', [msg('a')]);
    await flush();
    const small = adapter.send('t', [msg('b')]);
    const large = adapter.send('t', [msg('c')]);
    producers[0].calls[0].release();
    await blocker;
    await flush();
    const tooLarge = Object.assign(new Error('The request included a message larger than the max message size'), {
      type: 'MESSAGE_TOO_LARGE',
      retriable: false,
    });
    producers[0].calls[1].release(tooLarge);
    await flush();
    expect(producers[0].calls).toHaveLength(3);
    producers[0].calls[2].release();
    await flush();
    producers[0].calls[3].release(tooLarge);
    await expect(small).resolves.toBeUndefined();
    await expect(large).rejects.toBe(tooLarge);
  });

  it('sends one send larger than a request as several requests, in order, and resolves after the last', async () => {
    const { kafka, producers } = fakeKafka();
    const adapter = new KafkaProducerAdapter(kafka);
    await adapter.connect();
    // 60 texts of 64 KiB (3.9 MB): within the gateway's limits, far over the broker's 1 MiB per request.
    const big = Array.from({ length: 60 }, (_, i) => ({ key: `k${i}`, value: Buffer.alloc(65_536, i) }));
    let done = false;
    const sent = adapter.send('raw', big).then(() => (done = true));
    const p = producers[0];
    const seen: string[] = [];
    while (seen.length < 60) {
      await flush();
      const call = p.calls[seen.length === 0 ? 0 : p.calls.length - 1];
      const messages = call.topicMessages.flatMap((t) => t.messages);
      const bytes = messages.length * (65_536 + 64);
      expect(bytes).toBeLessThanOrEqual(512 * 1024 + 65_536 + 64);
      seen.push(...messages.map((m) => String(m.key)));
      expect(done).toBe(false);
      call.release();
    }
    await sent;
    expect(seen).toEqual(big.map((m) => m.key));
    expect(p.calls.length).toBeGreaterThanOrEqual(8);
  });
});
