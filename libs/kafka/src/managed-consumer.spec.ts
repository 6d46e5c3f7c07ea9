import { Logger } from '@nestjs/common';
import { fakeKafka } from '@app/testing';
import { ManagedConsumer, ManagedConsumerOptions } from './managed-consumer';
import type { MemberLedger } from './member-ledger';

const quiet = () => {
  const logger = new Logger('test');
  jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  return logger;
};
const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

function setup(restartMaxBackoffMs = 2_000, staleMembers?: ManagedConsumerOptions['staleMembers']) {
  let now = 0;
  const { kafka, consumers } = fakeKafka();
  const session = jest.fn(() => ({ eachBatch: async () => undefined }));
  const managed = new ManagedConsumer(kafka, {
    groupId: 'g',
    topics: ['t'],
    fromBeginning: true,
    consumer: { sessionTimeout: 10_000 },
    session,
    healthWindowMs: 3_000,
    restartMaxBackoffMs,
    staleMembers,
    logger: quiet(),
    now: () => now,
  });
  return { managed, consumers, session, advance: (ms: number) => (now += ms) };
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
});
