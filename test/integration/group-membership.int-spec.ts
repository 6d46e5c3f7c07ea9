import { Consumer, Kafka } from 'kafkajs';
import { createKafka, GroupMembershipAdapter } from '@app/kafka';
import { uniqueName, waitFor } from '@app/testing';
import { BROKERS } from '../support/infra-env';

describe('GroupMembershipAdapter against the real Kafka', () => {
  let kafka: Kafka;
  let consumer: Consumer | undefined;

  beforeAll(() => {
    kafka = createKafka(BROKERS, 'group-membership-int');
  });

  afterEach(async () => {
    await consumer?.disconnect();
    consumer = undefined;
  });

  it('removes a given member from its group at once, and says when the member is unknown', async () => {
    const topic = uniqueName('membership');
    const groupId = uniqueName('membership-group');
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
      // A member that stays in the group until its session times out (60 s), like one killed with -9.
      consumer = kafka.consumer({ groupId, sessionTimeout: 60_000, heartbeatInterval: 30_000 });
      let memberId: string | undefined;
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => (memberId = payload.memberId));
      await consumer.connect();
      await consumer.subscribe({ topics: [topic] });
      await consumer.run({ eachMessage: async () => undefined });
      const joined = await waitFor(() => memberId, { timeoutMs: 30_000, description: 'the consumer joined' });
      const members = async () => (await admin.describeGroups([groupId])).groups[0].members.map((m) => m.memberId);
      expect(await members()).toEqual([joined]);

      const membership = new GroupMembershipAdapter(kafka);
      expect(membership.supported).toBe(true);
      const started = Date.now();
      expect(await membership.removeMember(groupId, joined)).toBe(true);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(await members()).not.toContain(joined);
      expect(await membership.removeMember(groupId, joined)).toBe(false);
    } finally {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });
});
