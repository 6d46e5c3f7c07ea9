import type { Message, PartitionMetadata, ProducerBatch, RecordMetadata } from 'kafkajs';
import { IncompleteSendError, sendEvery, trackedPartitioner, unacknowledged } from './complete-send';

const metadata: PartitionMetadata[] = [0, 1, 2].map((partitionId) => ({
  partitionId,
  leader: partitionId,
  replicas: [0, 1, 2],
  isr: [0, 1, 2],
  partitionErrorCode: 0,
  offlineReplicas: [],
}));

/**
 * A sender that places records as kafkajs does (through the producer's partitioner, on every
 * attempt) and acknowledges the partitions it is told to; the others' records it drops, as kafkajs
 * does when their new leader already answered an earlier attempt.
 */
function sender(acknowledge: (attempt: number, partition: number) => boolean) {
  const place = trackedPartitioner();
  const written: { partition: number; key: string }[] = [];
  let attempt = 0;
  return {
    written,
    get attempts() {
      return attempt;
    },
    sendBatch: jest.fn(async ({ topicMessages }: ProducerBatch): Promise<RecordMetadata[]> => {
      attempt++;
      const acks = new Map<number, RecordMetadata>();
      for (const { topic, messages } of topicMessages ?? [])
        for (const message of messages) {
          const partition = place({ topic, partitionMetadata: metadata, message });
          if (!acknowledge(attempt, partition)) continue;
          written.push({ partition, key: String(message.key) });
          acks.set(partition, { topicName: topic, partition, errorCode: 0 });
        }
      await Promise.resolve();
      return [...acks.values()];
    }),
  };
}

const messages = (n: number): Message[] =>
  Array.from({ length: n }, (_, i) => ({ key: `id-${i}`, value: Buffer.from(`v${i}`) }));

describe('sendEvery', () => {
  it('sends again exactly the records of partitions kafkajs left out of an acknowledged send', async () => {
    const s = sender((attempt, partition) => attempt > 1 || partition !== 1);
    const warnings: string[] = [];
    const batch = messages(30);

    await sendEvery(s, [{ topic: 't', messages: batch }], { warn: (m) => warnings.push(m) });

    expect(s.attempts).toBe(2);
    // Every record written once: the first round's acknowledged partitions are not sent again.
    expect(s.written.map((w) => w.key).sort()).toEqual(batch.map((m) => String(m.key)).sort());
    const onePartition = s.written.filter((w) => w.partition === 1).length;
    expect(onePartition).toBeGreaterThan(0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`dropped ${onePartition} record(s)`);
  });

  it('resolves after one round when every partition is acknowledged', async () => {
    const s = sender(() => true);
    await sendEvery(s, [{ topic: 't', messages: messages(10) }]);
    expect(s.attempts).toBe(1);
  });

  it('gives up with a retriable IncompleteSendError when records stay unwritten', async () => {
    const s = sender((_, partition) => partition !== 2);
    await expect(sendEvery(s, [{ topic: 't', messages: messages(30) }])).rejects.toBeInstanceOf(IncompleteSendError);
    expect(s.attempts).toBe(5);
  });

  it('passes a send failure through as kafkajs threw it', async () => {
    const failure = new Error('Connection error');
    await expect(sendEvery({ sendBatch: () => Promise.reject(failure) }, [])).rejects.toBe(failure);
  });
});

describe('unacknowledged', () => {
  it('counts a record whose placement is unknown (not placed by trackedPartitioner) as acknowledged', () => {
    expect(unacknowledged([{ topic: 't', messages: messages(3) }], [])).toEqual([]);
  });
});
