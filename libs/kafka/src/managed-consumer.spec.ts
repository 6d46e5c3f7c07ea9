import { Logger } from '@nestjs/common';
import { FakeConsumer, fakeKafka } from '@app/testing';
import {
  AssignerProtocol,
  type Cluster,
  type ConsumerConfig,
  type ConsumerRunConfig,
  type EachBatchPayload,
  type Logger as KafkaLogger,
  type PartitionAssigner,
  PartitionAssigners,
} from 'kafkajs';
import { ManagedConsumer, ManagedConsumerOptions } from './managed-consumer';
import type { MemberLedger } from './member-ledger';
import { STICKY_ASSIGNER_NAME } from './sticky.assigner';

const quiet = () => {
  const logger = new Logger('test');
  for (const level of ['warn', 'log', 'debug'] as const) jest.spyOn(logger, level).mockImplementation(() => undefined);
  return logger;
};
const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

function setup(restartMaxBackoffMs = 2_000, staleMembers?: ManagedConsumerOptions['staleMembers']) {
  let now = 0;
  const { kafka, consumers } = fakeKafka();
  // Hooks into each new consumer as it is created, before the manager calls it.
  const created = jest.fn();
  const make = (kafka.consumer as jest.Mock).getMockImplementation()!;
  (kafka.consumer as jest.Mock).mockImplementation((...args: unknown[]) => {
    const consumer = make(...args);
    created(consumers[consumers.length - 1], consumers.length - 1);
    return consumer;
  });
  const session = jest.fn(() => ({ eachBatch: async () => undefined }));
  const managed = new ManagedConsumer(kafka, {
    groupId: 'g',
    topics: ['t'],
    fromBeginning: true,
    // A join may take up to 20 s + 10 s + 10 s; a crashed consumer's disconnect up to 10 s.
    consumer: { sessionTimeout: 10_000, rebalanceTimeout: 20_000 },
    session,
    healthWindowMs: 3_000,
    restartMaxBackoffMs,
    staleMembers,
    logger: quiet(),
    now: () => now,
  });
  return { managed, consumers, session, created, advance: (ms: number) => (now += ms) };
}

describe('ManagedConsumer', () => {
  afterEach(() => jest.useRealTimers());

  it('is a member only between joining and a rebalance, crash or stop', async () => {
    const { managed, consumers } = setup();
    managed.start();
    await flush();
    expect(managed.health.member).toBe(false);
    consumers[0].emit('group_join', { memberAssignment: {} });
    expect(managed.health.member).toBe(true);
    consumers[0].emit('rebalancing');
    expect(managed.health.member).toBe(false);
    consumers[0].emit('group_join', { memberAssignment: {} });
    await managed.stop();
    expect(managed.health.member).toBe(false);
  });

  it('calls the broker reachable only while it heard from one within the health window', async () => {
    const { managed, consumers, advance } = setup();
    managed.start();
    await flush();
    expect(managed.health.brokerReachable).toBe(false);
    consumers[0].emit('fetch');
    expect(managed.health.brokerReachable).toBe(true);
    advance(2_000);
    consumers[0].emit('heartbeat');
    advance(2_999);
    expect(managed.health.brokerReachable).toBe(true);
    advance(2);
    expect(managed.health.brokerReachable).toBe(false);
    await managed.stop();
  });

  it('never gives up: every crash is followed by a fresh consumer, with a backoff capped at restartMaxBackoffMs', async () => {
    jest.useFakeTimers();
    const { managed, consumers, session } = setup(1_000);
    managed.start();
    await flush();
    // kafkajs's own restart is off, so that the backoff is ours.
    const options = (consumers[0].consumer as unknown as { run: jest.Mock }).run.mock.calls[0][0];
    expect(options.autoCommit).toBe(false);
    const waits: number[] = [];
    for (let crash = 0; crash < 6; crash++) {
      const before = Date.now();
      consumers[crash].emit('crash', { error: new Error('KafkaJSNumberOfRetriesExceeded'), restart: false });
      while (consumers.length === crash + 1) {
        await jest.advanceTimersByTimeAsync(50);
      }
      waits.push(Date.now() - before);
    }
    expect(waits.slice(0, 3)).toEqual([250, 500, 1_000]);
    expect(Math.max(...waits)).toBeLessThanOrEqual(1_050);
    expect(session).toHaveBeenCalledTimes(7);
    await managed.stop();
  });

  it('retries a failed start (broker down at boot) like a crash', async () => {
    jest.useFakeTimers();
    const { managed, consumers } = setup();
    managed.start();
    (consumers[0].consumer.subscribe as jest.Mock).mockRejectedValueOnce(new Error('ECONNREFUSED'));
    await jest.advanceTimersByTimeAsync(0);
    await jest.advanceTimersByTimeAsync(300);
    expect(consumers.length).toBe(2);
    await managed.stop();
  });

  it('stop() disconnects (leaving the group) and no crash restarts it afterwards', async () => {
    jest.useFakeTimers();
    const { managed, consumers } = setup();
    managed.start();
    await jest.advanceTimersByTimeAsync(0);
    await managed.stop();
    expect(consumers[0].disconnect).toHaveBeenCalled();
    consumers[0].emit('crash', { error: new Error('late') });
    await jest.advanceTimersByTimeAsync(10_000);
    expect(consumers).toHaveLength(1);
  });

  // Seen in the cluster e2e test: the group coordinator's broker was killed, a restarted consumer
  // never settled, and nothing restarted it again: its partitions stood still for good.
  it('abandons a restarted consumer that never reaches its group (connect never settles) for a fresh one', async () => {
    jest.useFakeTimers();
    const { managed, consumers, created } = setup(1_000);
    created.mockImplementation((fake: FakeConsumer, i: number) => {
      if (i === 1) fake.connect.mockReturnValue(new Promise(() => undefined));
    });
    managed.start();
    await jest.advanceTimersByTimeAsync(0);
    consumers[0].emit('group_join', { memberAssignment: { t: [0, 1] } });
    consumers[0].emit('crash', { error: new Error('The coordinator is loading') });
    await jest.advanceTimersByTimeAsync(300);
    expect(consumers).toHaveLength(2);
    // Within the join bound (rebalance timeout + session timeout + 10 s) a third one is started.
    await jest.advanceTimersByTimeAsync(41_000);
    expect(consumers).toHaveLength(3);
    expect(consumers[2].connect).toHaveBeenCalled();
    consumers[2].emit('group_join', { memberAssignment: { t: [0, 1] } });
    expect(managed.health.member).toBe(true);
    await jest.advanceTimersByTimeAsync(120_000);
    expect(consumers).toHaveLength(3);
    await managed.stop();
  });

  it("restarts even when the crashed consumer's disconnect never settles", async () => {
    jest.useFakeTimers();
    const { managed, consumers } = setup(1_000);
    managed.start();
    await jest.advanceTimersByTimeAsync(0);
    consumers[0].disconnect.mockReturnValue(new Promise(() => undefined));
    consumers[0].emit('crash', { error: new Error('The coordinator is loading') });
    await jest.advanceTimersByTimeAsync(250 + 10_000 + 50);
    expect(consumers).toHaveLength(2);
    expect(consumers[1].connect).toHaveBeenCalled();
    await managed.stop();
  });

  it('ignores an abandoned consumer: its batches are not taken, and it is let go if it joins late', async () => {
    jest.useFakeTimers();
    const { managed, consumers, session, created } = setup(1_000);
    const eachBatch = jest.fn(async () => undefined);
    session.mockImplementation(() => ({ eachBatch }));
    created.mockImplementation((fake: FakeConsumer, i: number) => {
      // The first consumer's run (join and sync) hangs.
      if (i === 0)
        (fake.consumer.run as jest.Mock).mockImplementation(async (config: ConsumerRunConfig) => {
          fake.runConfig = config;
          return new Promise(() => undefined);
        });
    });
    managed.start();
    await jest.advanceTimersByTimeAsync(41_000);
    expect(consumers).toHaveLength(2);
    expect(managed.consumer).toBe(consumers[1].consumer);
    // The abandoned one joins after all: it is disconnected, and a batch it fetches is not handed over.
    consumers[0].emit('group_join', { memberAssignment: { t: [0] } });
    expect(consumers[0].disconnect).toHaveBeenCalled();
    expect(managed.health.member).toBe(false);
    await consumers[0].runConfig!.eachBatch!({} as EachBatchPayload);
    expect(eachBatch).not.toHaveBeenCalled();
    await consumers[1].runConfig!.eachBatch!({} as EachBatchPayload);
    expect(eachBatch).toHaveBeenCalledTimes(1);
    await managed.stop();
  });

  it('stop() returns even when the start and the disconnect never settle', async () => {
    jest.useFakeTimers();
    const { managed, created } = setup();
    created.mockImplementation((fake: FakeConsumer) => {
      fake.connect.mockReturnValue(new Promise(() => undefined));
      fake.disconnect.mockReturnValue(new Promise(() => undefined));
    });
    managed.start();
    await jest.advanceTimersByTimeAsync(0);
    let stopped = false;
    void managed.stop().then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(20_050);
    expect(stopped).toBe(true);
  });

  describe('the member a former consumer left behind', () => {
    function ledger(previous?: string): MemberLedger & { remembered: string[] } {
      const remembered: string[] = [];
      return { remembered, previous: () => previous, remember: (id) => void remembered.push(id) };
    }

    it('is removed from the group before the first join, and each member id joined is recorded', async () => {
      const order: string[] = [];
      const book = ledger('dead-member');
      const remove = jest.fn(async (groupId: string, memberId: string) => {
        order.push(`remove ${groupId} ${memberId}`);
        return true;
      });
      const { managed, consumers } = setup(2_000, { ledger: book, remove, timeoutMs: 1_000 });
      managed.start();
      await flush();
      expect(consumers).toHaveLength(1);
      expect(order).toEqual(['remove g dead-member']);
      expect(consumers[0].connect).toHaveBeenCalled();
      consumers[0].emit('group_join', { memberId: 'me-1', memberAssignment: {} });
      expect(book.remembered).toEqual(['me-1']);
      await managed.stop();
    });

    it("after a crash, the crashed consumer's member is removed before the fresh consumer joins", async () => {
      jest.useFakeTimers();
      const remove = jest.fn(async () => true);
      const { managed, consumers } = setup(2_000, { ledger: ledger(), remove, timeoutMs: 1_000 });
      managed.start();
      await jest.advanceTimersByTimeAsync(0);
      expect(remove).not.toHaveBeenCalled(); // nothing left behind at the first start
      consumers[0].emit('group_join', { memberId: 'me-1', memberAssignment: {} });
      consumers[0].emit('crash', { error: new Error('boom') });
      await jest.advanceTimersByTimeAsync(300);
      expect(remove).toHaveBeenCalledWith('g', 'me-1');
      expect(consumers).toHaveLength(2);
      await managed.stop();
    });

    it('can remove it ahead of start(), which then waits for that removal rather than sending another', async () => {
      jest.useFakeTimers();
      let finish!: (removed: boolean) => void;
      const remove = jest.fn(() => new Promise<boolean>((resolve) => (finish = resolve)));
      const { managed, consumers } = setup(2_000, { ledger: ledger('dead'), remove, timeoutMs: 1_000 });
      void managed.removeStaleMemberNow();
      managed.start();
      await jest.advanceTimersByTimeAsync(100);
      expect(consumers).toHaveLength(0);
      finish(true);
      await jest.advanceTimersByTimeAsync(0);
      expect(consumers).toHaveLength(1);
      expect(remove).toHaveBeenCalledTimes(1);
      await managed.stop();
    });

    it('joins anyway when the removal fails or does not answer in time', async () => {
      jest.useFakeTimers();
      const remove = jest.fn(() => new Promise<boolean>(() => undefined));
      const { managed, consumers } = setup(2_000, { ledger: ledger('dead'), remove, timeoutMs: 1_000 });
      managed.start();
      await jest.advanceTimersByTimeAsync(999);
      expect(consumers).toHaveLength(0);
      await jest.advanceTimersByTimeAsync(1);
      expect(consumers).toHaveLength(1);
      await managed.stop();
    });
  });
  describe('the partition assignor (KAFKA_PARTITION_ASSIGNOR)', () => {
    // Another assigner the config may carry (the gateway's reply listener has its own).
    const replyAssigner = (() => ({})) as unknown as PartitionAssigner;
    function started(assignor: ManagedConsumerOptions['assignor']) {
      const { kafka, consumers } = fakeKafka();
      const managed = new ManagedConsumer(kafka, {
        groupId: 'g',
        topics: ['t'],
        fromBeginning: true,
        consumer: { partitionAssigners: [replyAssigner] },
        assignor,
        session: () => ({ eachBatch: async () => undefined }),
        healthWindowMs: 3_000,
        restartMaxBackoffMs: 2_000,
        logger: quiet(),
      });
      managed.start();
      const config = () => (kafka.consumer as jest.Mock).mock.calls.at(-1)![0] as ConsumerConfig;
      return { managed, consumers, config };
    }
    const cluster = { findTopicPartitionMetadata: () => [] } as unknown as Cluster;
    const owned = (metadata: Buffer) =>
      AssignerProtocol.MemberAssignment.decode(AssignerProtocol.MemberMetadata.decode(metadata)!.userData)?.assignment;

    it('sticky: offers the sticky assignor first (round robin second) and reports the partitions its last join got', async () => {
      const { managed, consumers, config } = started('sticky');
      await flush();
      const [sticky, fallback] = config().partitionAssigners!;
      expect(fallback).toBe(PartitionAssigners.roundRobin);
      const assigner = sticky({ cluster, groupId: 'g', logger: {} as KafkaLogger });
      expect(assigner.name).toBe(STICKY_ASSIGNER_NAME);
      expect(owned(assigner.protocol({ topics: ['t'] }).metadata)).toEqual({});
      consumers[0].emit('group_join', { memberAssignment: { t: [1, 4] } });
      expect(owned(assigner.protocol({ topics: ['t'] }).metadata)).toEqual({ t: [1, 4] });
      await managed.stop();
    });

    it('roundrobin: kafkajs round robin only; unset: the consumer config’s own assigners', async () => {
      const rr = started('roundrobin');
      await flush();
      expect(rr.config().partitionAssigners).toEqual([PartitionAssigners.roundRobin]);
      await rr.managed.stop();
      const unset = started(undefined);
      await flush();
      expect(unset.config().partitionAssigners).toEqual([replyAssigner]);
      await unset.managed.stop();
    });
  });
});
