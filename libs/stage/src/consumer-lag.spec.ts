import { Logger } from '@nestjs/common';
import { MetricsService } from '@app/observability';
import type { Kafka } from 'kafkajs';
import { ConsumerLag } from './consumer-lag';

function fakeKafka(ends: { partition: number; high: string; low: string }[], committed: Record<number, string>) {
  const admin = {
    connect: jest.fn(() => Promise.resolve()),
    disconnect: jest.fn(() => Promise.resolve()),
    fetchTopicOffsets: jest.fn(() => Promise.resolve(ends.map((e) => ({ ...e, offset: e.high })))),
    fetchOffsets: jest.fn(() =>
      Promise.resolve([
        { topic: 'in', partitions: Object.entries(committed).map(([p, offset]) => ({ partition: Number(p), offset })) },
      ]),
    ),
  };
  return { kafka: { admin: () => admin } as unknown as Kafka, admin };
}

describe('ConsumerLag', () => {
  it('sets kafka_consumer_lag per partition: log-end minus committed, from the log start where none was committed', async () => {
    const { kafka, admin } = fakeKafka(
      [
        { partition: 0, high: '100', low: '0' },
        { partition: 1, high: '50', low: '20' },
        { partition: 2, high: '7', low: '0' },
      ],
      { 0: '90', 1: '-1', 2: '7' },
    );
    const metrics = new MetricsService();
    const lag = new ConsumerLag(kafka, metrics, { groupId: 'g', topic: 'in', intervalMs: 1000 });
    await lag.read();
    const text = await metrics.render();
    expect(text).toContain('kafka_consumer_lag{group="g",topic="in",partition="0"} 10');
    expect(text).toContain('kafka_consumer_lag{group="g",topic="in",partition="1"} 30');
    expect(text).toContain('kafka_consumer_lag{group="g",topic="in",partition="2"} 0');
    expect(admin.fetchOffsets).toHaveBeenCalledWith({ groupId: 'g', topics: ['in'] });
    await lag.stop();
    expect(admin.disconnect).toHaveBeenCalled();
  });

  it('survives an unreachable broker, warning once per outage', async () => {
    const { kafka, admin } = fakeKafka([], {});
    admin.fetchTopicOffsets.mockImplementation(() => Promise.reject(new Error('broker down')));
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const lag = new ConsumerLag(kafka, new MetricsService(), { groupId: 'g', topic: 'in', intervalMs: 1000 });
    await lag.read();
    await lag.read();
    expect(warn).toHaveBeenCalledTimes(1);
    warn.mockRestore();
    await lag.stop();
  });
});
