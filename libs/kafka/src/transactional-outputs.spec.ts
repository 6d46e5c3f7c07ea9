import { Logger } from '@nestjs/common';
import { brokerDown, FakeTransactionBroker, FakeTransactionalProducer } from '@app/testing';
import { isFenced, TransactionalOutputs, transactionalIdFor } from './transactional-outputs';

const GROUP = 'e-inference';
const quiet = () => {
  const logger = new Logger('test');
  jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  jest.spyOn(logger, 'log').mockImplementation(() => undefined);
  return logger;
};

function instance(broker: FakeTransactionBroker) {
  const fenced: string[] = [];
  const outputs = new TransactionalOutputs({
    groupId: GROUP,
    createProducer: (id) => broker.producer(id),
    committedOffset: (topic, partition) => Promise.resolve(broker.committedOffset(GROUP, topic, partition)),
    logger: quiet(),
    onFenced: (where) => fenced.push(where),
  });
  return { outputs, fenced };
}

/** An inbound record of `tokenized[partition]` as the runtime claims and stages it. */
const inbound = (partition: number, offset: number) => ({ topic: 'tokenized', partition, offset: String(offset) });
const out = (v: string) => ({ key: v, value: Buffer.from(v) });
const values = (messages: { value: unknown }[]) => messages.map((m) => String(m.value));

/** Hands records over (claims them) and stages one prediction each. */
function handle(outputs: TransactionalOutputs, partition: number, offsets: number[]) {
  const claim = outputs.claimFor('tokenized', partition)!;
  return offsets.map((o) => {
    const source = inbound(partition, o);
    claim.add(source);
    return outputs.stage(source, 'predictions', [out(`p${partition}@${o}`)]);
  });
}

describe('TransactionalOutputs', () => {
  it('commits the outputs below the offset and the offset in one transaction; the rest waits for the next', async () => {
    const broker = new FakeTransactionBroker();
    const { outputs } = instance(broker);
    outputs.assign([{ topic: 'tokenized', partition: 0 }]);
    await outputs.ready('tokenized', 0);
    expect(handle(outputs, 0, [0, 1, 2])).toEqual([true, true, true]);

    await outputs.commit([{ topic: 'tokenized', partition: 0, offset: '2' }]);
    expect(values(broker.committed('predictions'))).toEqual(['p0@0', 'p0@1']);
    expect(broker.committedOffset(GROUP, 'tokenized', 0)).toBe('2');
    expect(outputs.stagedMessages).toBe(1);

    await outputs.commit([{ topic: 'tokenized', partition: 0, offset: '3' }]);
    expect(values(broker.committed('predictions'))).toEqual(['p0@0', 'p0@1', 'p0@2']);
    expect(broker.transactions.filter((t) => t.state === 'committed').map((t) => t.transactionalId)).toEqual([
      transactionalIdFor(GROUP, 'tokenized', 0),
      transactionalIdFor(GROUP, 'tokenized', 0),
    ]);
  });

  it('aborts a transaction that failed: nothing of it is visible, and the retry writes each output once', async () => {
    let down = true;
    const broker = new FakeTransactionBroker().failWith((step) =>
      down && step === 'sendOffsets' ? brokerDown() : undefined,
    );
    const { outputs } = instance(broker);
    outputs.assign([{ topic: 'tokenized', partition: 1 }]);
    handle(outputs, 1, [0, 1]);

    await expect(outputs.commit([{ topic: 'tokenized', partition: 1, offset: '2' }])).rejects.toThrow(/ECONNREFUSED/);
    expect(broker.committed('predictions')).toEqual([]);
    expect(broker.committedOffset(GROUP, 'tokenized', 1)).toBeUndefined();
    expect(broker.transactions.filter((t) => t.messages.length > 0).map((t) => t.state)).toEqual(['aborted']);

    down = false;
    await outputs.commit([{ topic: 'tokenized', partition: 1, offset: '2' }]);
    expect(values(broker.committed('predictions'))).toEqual(['p1@0', 'p1@1']);
    expect(broker.committedOffset(GROUP, 'tokenized', 1)).toBe('2');
  });

  it('a commit that landed although its answer was lost is not written again by the retry', async () => {
    let loseAnswer = true;
    const broker = new FakeTransactionBroker().failWith((step) => {
      if (step !== 'committed' || !loseAnswer) return undefined;
      loseAnswer = false;
      return brokerDown();
    });
    const { outputs } = instance(broker);
    outputs.assign([{ topic: 'tokenized', partition: 0 }]);
    handle(outputs, 0, [0, 1, 2]);

    // The broker wrote the commit and died before answering: kafkajs cannot abort, so the producer is replaced.
    await expect(outputs.commit([{ topic: 'tokenized', partition: 0, offset: '2' }])).rejects.toThrow(/ECONNREFUSED/);
    expect(values(broker.committed('predictions'))).toEqual(['p0@0', 'p0@1']);

    // The tracker retries the same offset, then goes on.
    await outputs.commit([{ topic: 'tokenized', partition: 0, offset: '2' }]);
    await outputs.commit([{ topic: 'tokenized', partition: 0, offset: '3' }]);
    expect(values(broker.committed('predictions'))).toEqual(['p0@0', 'p0@1', 'p0@2']);
    expect(broker.committedOffset(GROUP, 'tokenized', 0)).toBe('3');
    expect(outputs.stagedMessages).toBe(0);
  });

  it("after a revoke, ready waits for this instance's transaction in flight and answers the offset it committed", async () => {
    const broker = new FakeTransactionBroker();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let holdCommit = true;
    const outputs = new TransactionalOutputs({
      groupId: GROUP,
      createProducer: (id) => {
        const producer = broker.producer(id);
        const transaction = producer.transaction.bind(producer);
        // A commit that takes its time (the broker away): it lands after the rejoin.
        producer.transaction = async () => {
          const txn = await transaction();
          const commit = txn.commit.bind(txn);
          return { ...txn, commit: async () => (holdCommit ? held.then(commit) : commit()) };
        };
        return producer;
      },
      committedOffset: (topic, partition) => Promise.resolve(broker.committedOffset(GROUP, topic, partition)),
      logger: quiet(),
      onFenced: () => undefined,
    });
    outputs.assign([{ topic: 'tokenized', partition: 0 }]);
    expect(await outputs.ready('tokenized', 0)).toBe(0n);
    handle(outputs, 0, [0, 1, 2, 3]);
    const inFlight = outputs.commit([{ topic: 'tokenized', partition: 0, offset: '4' }]);
    await new Promise((resolve) => setImmediate(resolve));

    // The revoke's wait ran out; kafkajs rejoins and reads the position (nothing committed yet), and the partition stays.
    outputs.revoked();
    outputs.assign([{ topic: 'tokenized', partition: 0 }]);
    let floor: bigint | undefined;
    const ready = outputs.ready('tokenized', 0).then((f) => (floor = f));
    await new Promise((resolve) => setImmediate(resolve));
    expect(floor).toBeUndefined();

    holdCommit = false;
    release();
    await inFlight;
    await ready;
    expect(floor).toBe(4n);
    expect(values(broker.committed('predictions'))).toEqual(['p0@0', 'p0@1', 'p0@2', 'p0@3']);
  });

  it('fences a zombie: once the new owner holds the partition, nothing the old one writes becomes visible', async () => {
    const broker = new FakeTransactionBroker();
    const zombie = instance(broker);
    zombie.outputs.assign([{ topic: 'tokenized', partition: 0 }]);
    await zombie.outputs.ready('tokenized', 0);
    handle(zombie.outputs, 0, [0, 1]);

    // The zombie's partitions moved while it was paused: the new owner takes over the id.
    const owner = instance(broker);
    owner.outputs.assign([{ topic: 'tokenized', partition: 0 }]);
    await owner.outputs.ready('tokenized', 0);

    const error = await zombie.outputs
      .commit([{ topic: 'tokenized', partition: 0, offset: '2' }])
      .catch((e: unknown) => e);
    expect(isFenced(error)).toBe(true);
    expect(zombie.fenced).toEqual(['tokenized[0]']);
    // It drops the partition: later outputs are refused, later commits are no-ops.
    expect(zombie.outputs.claimFor('tokenized', 0)).toBeUndefined();
    expect(zombie.outputs.stage(inbound(0, 2), 'predictions', [out('late')])).toBe(false);
    await zombie.outputs.commit([{ topic: 'tokenized', partition: 0, offset: '3' }]);

    handle(owner.outputs, 0, [0, 1]);
    await owner.outputs.commit([{ topic: 'tokenized', partition: 0, offset: '2' }]);
    expect(values(broker.committed('predictions'))).toEqual(['p0@0', 'p0@1']);
  });

  it("ready answers the committed offset read after the take-over: the previous owner's last commit, landed after the new owner's consumer read its position, is not handled twice", async () => {
    const broker = new FakeTransactionBroker();
    const previous = instance(broker);
    previous.outputs.assign([{ topic: 'tokenized', partition: 0 }]);
    await previous.outputs.ready('tokenized', 0);
    handle(previous.outputs, 0, [0, 1, 2, 3, 4]);
    // kafkajs reads the new owner's position when it joins: nothing is committed yet.
    expect(broker.committedOffset(GROUP, 'tokenized', 0)).toBeUndefined();
    // The previous owner's transaction, still in flight when the group rebalanced, commits now.
    await previous.outputs.commit([{ topic: 'tokenized', partition: 0, offset: '5' }]);

    const producers: FakeTransactionalProducer[] = [];
    const readWithEpoch: (number | undefined)[] = [];
    const owner = new TransactionalOutputs({
      groupId: GROUP,
      createProducer: (id) => producers[producers.push(broker.producer(id)) - 1],
      committedOffset: (topic, partition) => {
        readWithEpoch.push(producers[0].epoch);
        return Promise.resolve(broker.committedOffset(GROUP, topic, partition));
      },
      logger: quiet(),
      onFenced: () => undefined,
    });
    owner.assign([{ topic: 'tokenized', partition: 0 }]);
    expect(await owner.ready('tokenized', 0)).toBe(5n);
    // Read once the new producer held the id (epoch 1: the previous owner's was 0), so no older commit can follow.
    expect(readWithEpoch).toEqual([1]);
    // A partition nobody committed starts at 0; one not assigned answers nothing.
    owner.assign([
      { topic: 'tokenized', partition: 0 },
      { topic: 'tokenized', partition: 1 },
    ]);
    expect(await owner.ready('tokenized', 1)).toBe(0n);
    expect(await owner.ready('tokenized', 7)).toBeUndefined();
  });

  it('retries reading the committed offset without taking the id over again', async () => {
    const broker = new FakeTransactionBroker();
    let failures = 1;
    const outputs = new TransactionalOutputs({
      groupId: GROUP,
      createProducer: (id) => broker.producer(id),
      committedOffset: () => (failures-- > 0 ? Promise.reject(new Error('coordinator loading')) : Promise.resolve('9')),
      logger: quiet(),
      onFenced: () => undefined,
    });
    outputs.assign([{ topic: 'tokenized', partition: 3 }]);
    expect(await outputs.ready('tokenized', 3)).toBe(9n);
    // One empty transaction: the one InitProducerId takes.
    expect(
      broker.transactions.filter((t) => t.transactionalId === transactionalIdFor(GROUP, 'tokenized', 3)),
    ).toHaveLength(1);
  });

  it('a new owner aborts the open transaction of an instance killed mid-transaction', async () => {
    const broker = new FakeTransactionBroker();
    // The killed instance's producer: a transaction begun, outputs sent, never ended.
    const killed = broker.producer(transactionalIdFor(GROUP, 'tokenized', 2));
    await killed.connect();
    const open = await killed.transaction();
    await open.sendBatch({ topicMessages: [{ topic: 'predictions', messages: [out('half-done')] }] });
    expect(broker.transactions.map((t) => t.state)).toEqual(['open']);

    const next = instance(broker);
    next.outputs.assign([{ topic: 'tokenized', partition: 2 }]);
    await next.outputs.ready('tokenized', 2);
    expect(broker.transactions[0].state).toBe('aborted');
    handle(next.outputs, 2, [0]);
    await next.outputs.commit([{ topic: 'tokenized', partition: 2, offset: '1' }]);
    expect(values(broker.committed('predictions'))).toEqual(['p2@0']);
  });

  it('after a revoke, a record of the earlier reading that finishes late cannot add a second output', async () => {
    const broker = new FakeTransactionBroker();
    const { outputs } = instance(broker);
    outputs.assign([{ topic: 'tokenized', partition: 0 }]);
    const claim = outputs.claimFor('tokenized', 0)!;
    const late = inbound(0, 0);
    claim.add(late);
    handle(outputs, 0, [1]);

    outputs.revoked();
    expect(outputs.stagedMessages).toBe(0);
    outputs.assign([{ topic: 'tokenized', partition: 0 }]);
    // The partition is read again from the commit: offset 0 again, under the new claim.
    expect(handle(outputs, 0, [0])).toEqual([true]);
    expect(outputs.stage(late, 'predictions', [out('late')])).toBe(false);
    // A claim taken before the revoke is spent as well.
    const stale = inbound(0, 1);
    claim.add(stale);
    expect(outputs.stage(stale, 'predictions', [out('stale')])).toBe(false);

    await outputs.commit([{ topic: 'tokenized', partition: 0, offset: '1' }]);
    expect(values(broker.committed('predictions'))).toEqual(['p0@0']);
  });

  it('closes the producers of lost partitions and drops their outputs', async () => {
    const broker = new FakeTransactionBroker();
    const { outputs } = instance(broker);
    outputs.assign([
      { topic: 'tokenized', partition: 0 },
      { topic: 'tokenized', partition: 1 },
    ]);
    handle(outputs, 0, [0]);
    handle(outputs, 1, [0]);
    outputs.assign([{ topic: 'tokenized', partition: 0 }]);
    expect(outputs.stagedMessages).toBe(1);
    expect(outputs.claimFor('tokenized', 1)).toBeUndefined();
    await outputs.commit([
      { topic: 'tokenized', partition: 0, offset: '1' },
      { topic: 'tokenized', partition: 1, offset: '1' },
    ]);
    expect(values(broker.committed('predictions'))).toEqual(['p0@0']);
    expect(broker.committedOffset(GROUP, 'tokenized', 1)).toBeUndefined();
  });
});
