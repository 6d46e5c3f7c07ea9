import { Logger } from '@nestjs/common';
import { Kafka, logLevel, Producer } from 'kafkajs';
import {
  createKafka,
  GroupOffsetsAdapter,
  trackedPartitioner,
  TransactionalOutputs,
  transactionalIdFor,
} from '@app/kafka';
import { uniqueName } from '@app/testing';
import { BROKERS } from '../support/infra-env';

const quiet = () => {
  const logger = new Logger('test');
  jest.spyOn(logger, 'log').mockImplementation(() => undefined);
  jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  return logger;
};

// A new owner of an input partition starts where the group's committed offset stands once it holds the
// partition's transactional id: after the previous owner's last transaction committed, or was aborted by the take-over.
describe('GroupOffsetsAdapter and TransactionalOutputs.ready against the real Kafka', () => {
  let kafka: Kafka;
  const producers: Producer[] = [];
  const closers: (() => Promise<void>)[] = [];

  beforeAll(() => {
    kafka = createKafka(BROKERS, 'group-offsets-int', logLevel.NOTHING);
  });

  afterEach(async () => {
    for (const close of closers.splice(0)) await close().catch(() => undefined);
    for (const p of producers.splice(0)) await p.disconnect().catch(() => undefined);
  });

  async function setUp() {
    const input = uniqueName('offsets-in');
    const output = uniqueName('offsets-out');
    const groupId = uniqueName('offsets-group');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [input, output].map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1 })),
    });
    closers.push(async () => {
      await admin.deleteTopics({ topics: [input, output] }).catch(() => undefined);
      await admin.disconnect();
    });
    const transactionalId = transactionalIdFor(groupId, input, 0);
    const previousOwner = async () => {
      const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
      producers.push(producer);
      await producer.connect();
      const txn = await producer.transaction();
      await txn.send({ topic: output, messages: [{ value: 'from the previous owner' }] });
      await txn.sendOffsets({
        consumerGroupId: groupId,
        topics: [{ topic: input, partitions: [{ partition: 0, offset: '5' }] }],
      });
      return txn;
    };
    const offsets = new GroupOffsetsAdapter(kafka, groupId);
    closers.push(() => offsets.close());
    const newOwner = () => {
      const outputs = new TransactionalOutputs({
        groupId,
        createProducer: (id) => {
          const producer = kafka.producer({
            transactionalId: id,
            idempotent: true,
            maxInFlightRequests: 1,
            createPartitioner: trackedPartitioner,
          });
          producers.push(producer);
          return producer;
        },
        committedOffset: (topic, partition) => offsets.committed(topic, partition),
        logger: quiet(),
        onFenced: () => undefined,
      });
      closers.push(() => outputs.close());
      outputs.assign([{ topic: input, partition: 0 }]);
      return outputs;
    };
    return { input, offsets, previousOwner, newOwner };
  }

  it("answers the offset of the previous owner's transaction that committed before the take-over", async () => {
    const { input, offsets, previousOwner, newOwner } = await setUp();
    expect(await offsets.committed(input, 0)).toBeUndefined();
    const txn = await previousOwner();
    await txn.commit();
    expect(await newOwner().ready(input, 0)).toBe(5n);
    expect(await offsets.committed(input, 0)).toBe('5');
  }, 60_000);

  it("answers 0 when the take-over aborted the previous owner's open transaction", async () => {
    const { input, offsets, previousOwner, newOwner } = await setUp();
    await previousOwner(); // begun, outputs and offset sent, never committed
    expect(await newOwner().ready(input, 0)).toBe(0n);
    expect(await offsets.committed(input, 0)).toBeUndefined();
  }, 60_000);
});
