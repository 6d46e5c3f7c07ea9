import { AssignerProtocol, type Cluster, type Logger, PartitionAssigners } from 'kafkajs';
import {
  assignSticky,
  decodeStickyMember,
  STICKY_ASSIGNER_NAME,
  StickyAssigner,
  StickyMember,
  TopicPartitions,
} from './sticky.assigner';

const six = { t: [0, 1, 2, 3, 4, 5] };

/** A member subscribed to `t` that owns `owned`. */
const member = (memberId: string, owned: number[] = []): StickyMember => ({
  memberId,
  topics: ['t'],
  owned: owned.length > 0 ? { t: owned } : {},
});

/** Each member's partitions of topic t. */
const ofTopic = (assignment: Record<string, TopicPartitions>, topic = 't') =>
  Object.fromEntries(Object.entries(assignment).map(([id, a]) => [id, a[topic] ?? []]));

/** Partitions that changed hands between two assignments (of topic t). */
function moved(before: Record<string, number[]>, after: Record<string, number[]>): number {
  let n = 0;
  for (const [id, partitions] of Object.entries(after))
    n += partitions.filter((p) => !(before[id] ?? []).includes(p)).length;
  return n;
}

/** Every partition exactly once, and counts per member within 1 of each other. */
function expectBalanced(assignment: Record<string, number[]>, partitions: number[]): void {
  const all = Object.values(assignment).flat();
  expect([...all].sort((a, b) => a - b)).toEqual(partitions);
  const counts = Object.values(assignment).map((p) => p.length);
  expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
}

describe('assignSticky', () => {
  it('balances: partition counts per member differ by at most 1, every partition assigned once', () => {
    for (let members = 1; members <= 7; members++) {
      for (const count of [1, 5, 6, 12, 13]) {
        const partitions = Array.from({ length: count }, (_, i) => i);
        const ids = Array.from({ length: members }, (_, i) => `m${i}`);
        // Lopsided ownership: the first member claims everything.
        const assignment = ofTopic(
          assignSticky(
            ids.map((id, i) => member(id, i === 0 ? partitions : [])),
            { t: partitions },
          ),
        );
        expect(Object.keys(assignment)).toHaveLength(members);
        expectBalanced(assignment, partitions);
      }
    }
  });

  it('moves only what must move as 1 → 2 → 3 members join 6 partitions: 3, then 2', () => {
    const one = ofTopic(assignSticky([member('m-b')], six));
    expect(one).toEqual({ 'm-b': [0, 1, 2, 3, 4, 5] });
    // The newcomers sort first, so a round robin by member id would reshuffle everything.
    const two = ofTopic(assignSticky([member('m-a'), member('m-b', one['m-b'])], six));
    expectBalanced(two, six.t);
    expect(moved(one, two)).toBe(3);
    const three = ofTopic(assignSticky([member('m-0'), member('m-a', two['m-a']), member('m-b', two['m-b'])], six));
    expectBalanced(three, six.t);
    expect(moved(two, three)).toBe(2);
    expect(three['m-a'].every((p) => two['m-a'].includes(p))).toBe(true);
    expect(three['m-b'].every((p) => two['m-b'].includes(p))).toBe(true);
  });

  it("spreads a leaving member's partitions over the others, which keep theirs", () => {
    const before = { a: [0, 1], b: [2, 3], c: [4, 5] };
    const after = ofTopic(assignSticky([member('a', before.a), member('b', before.b)], six));
    expectBalanced(after, six.t);
    expect(after.a).toEqual(expect.arrayContaining(before.a));
    expect(after.b).toEqual(expect.arrayContaining(before.b));
    expect([after.a.length, after.b.length]).toEqual([3, 3]);
    expect(moved(before, after)).toBe(2);
  });

  it('gives a partition two members claim to one of them only (the first by member id)', () => {
    const after = ofTopic(assignSticky([member('b', [3, 4, 5]), member('a', [3, 4, 5])], six));
    expectBalanced(after, six.t);
    expect(after).toEqual({ a: [3, 4, 5], b: [0, 1, 2] });
  });

  it('takes over a stale claim of more than the balanced share only as far as balance allows', () => {
    // b missed a rebalance and still claims what a now holds too.
    const after = ofTopic(assignSticky([member('a', [3, 4, 5]), member('b', [0, 1, 2, 3, 4, 5])], six));
    expectBalanced(after, six.t);
    expect(after).toEqual({ a: [3, 4, 5], b: [0, 1, 2] });
  });

  it('hands new partitions to those short of their share, ignores claims of partitions gone, and is deterministic', () => {
    const eight = { t: [0, 1, 2, 3, 4, 5, 6, 7] };
    const grown = ofTopic(assignSticky([member('a', [0, 1, 2]), member('b', [3, 4, 5])], eight));
    expect(grown).toEqual({ a: [0, 1, 2, 6], b: [3, 4, 5, 7] });
    const shrunk = ofTopic(assignSticky([member('a', [0, 1, 2, 6]), member('b', [3, 4, 5, 7])], { t: [0, 1, 2, 3] }));
    expect(shrunk).toEqual({ a: [0, 1], b: [2, 3] });
    const members = [member('b', [5, 2]), member('c'), member('a', [2, 0])];
    expect(assignSticky(members, six)).toEqual(assignSticky([...members].reverse(), { t: [5, 4, 3, 2, 1, 0] }));
  });

  it('balances each topic, and spreads the topics’ odd partitions over different members', () => {
    const members = ['a', 'b'].map((memberId) => ({ memberId, topics: ['t', 'u'], owned: {} }));
    const assignment = assignSticky(members, { t: [0, 1, 2], u: [0, 1, 2] });
    expectBalanced(ofTopic(assignment, 't'), [0, 1, 2]);
    expectBalanced(ofTopic(assignment, 'u'), [0, 1, 2]);
    const total = Object.values(assignment).map((a) => Object.values(a).flat().length);
    expect(total).toEqual([3, 3]);
  });

  it('assigns a topic only to its subscribers', () => {
    const assignment = assignSticky(
      [
        { memberId: 'a', topics: ['t'], owned: { u: [0] } },
        { memberId: 'b', topics: ['u'], owned: {} },
      ],
      { t: [0, 1], u: [0] },
    );
    expect(assignment).toEqual({ a: { t: [0, 1] }, b: { u: [0] } });
  });

  it('copes with an empty group and with topics without partitions', () => {
    expect(assignSticky([], six)).toEqual({});
    expect(assignSticky([member('a', [0])], { t: [] })).toEqual({ a: {} });
    expect(assignSticky([member('a'), member('b')], {})).toEqual({ a: {}, b: {} });
  });
});

describe('StickyAssigner (the kafkajs side)', () => {
  const cluster = (partitions: number) =>
    ({
      findTopicPartitionMetadata: () => Array.from({ length: partitions }, (_, partitionId) => ({ partitionId })),
    }) as unknown as Cluster;
  const logger = {} as Logger;

  /** One rebalance: every consumer's JoinGroup metadata to the leader's assign(), and each result back to its consumer. */
  async function rebalance(consumers: Map<string, StickyAssigner>, partitions = 6): Promise<Record<string, number[]>> {
    const assigners = [...consumers.values()].map((c) =>
      c.assigner({ cluster: cluster(partitions), groupId: 'g', logger }),
    );
    const members = [...consumers.keys()].map((memberId, i) => ({
      memberId,
      memberMetadata: assigners[i].protocol({ topics: ['t'] }).metadata,
    }));
    const result = await assigners[0].assign({ members, topics: ['t'] });
    const got: Record<string, number[]> = {};
    for (const { memberId, memberAssignment } of result) {
      const assignment = AssignerProtocol.MemberAssignment.decode(memberAssignment)!.assignment;
      consumers.get(memberId)!.received(assignment);
      got[memberId] = assignment.t ?? [];
    }
    return got;
  }

  it('reports what it was last given in its JoinGroup metadata, so that the leader keeps it in place', async () => {
    const consumers = new Map([['z', new StickyAssigner()]]);
    const one = await rebalance(consumers);
    expect(one).toEqual({ z: [0, 1, 2, 3, 4, 5] });
    expect(consumers.get('z')!.current).toEqual({ t: [0, 1, 2, 3, 4, 5] });
    consumers.set('y', new StickyAssigner());
    const two = await rebalance(consumers);
    expect(moved(one, two)).toBe(3);
    consumers.set('x', new StickyAssigner());
    const three = await rebalance(consumers);
    expect(moved(two, three)).toBe(2);
    expectBalanced(three, [0, 1, 2, 3, 4, 5]);
  });

  it('moves more than that under kafkajs round robin (what the sticky one is measured against)', async () => {
    const rr = PartitionAssigners.roundRobin({ cluster: cluster(6), groupId: 'g', logger });
    const assign = async (ids: string[]) => {
      const members = ids.map((memberId) => ({ memberId, memberMetadata: rr.protocol({ topics: ['t'] }).metadata }));
      const result = await rr.assign({ members, topics: ['t'] });
      return Object.fromEntries(
        result.map((r) => [r.memberId, AssignerProtocol.MemberAssignment.decode(r.memberAssignment)!.assignment.t]),
      );
    };
    const two = await assign(['y', 'z']);
    const three = await assign(['x', 'y', 'z']);
    expect(moved(two, three)).toBeGreaterThan(2);
  });

  it('names its protocol, and a member with unreadable userData owns nothing', () => {
    const protocol = new StickyAssigner()
      .assigner({ cluster: cluster(1), groupId: 'g', logger })
      .protocol({ topics: ['t'] });
    expect(protocol.name).toBe(STICKY_ASSIGNER_NAME);
    const garbage = AssignerProtocol.MemberMetadata.encode({
      version: 0,
      topics: ['t'],
      userData: Buffer.from([1, 2, 3]),
    });
    expect(decodeStickyMember('m', garbage)).toEqual({ memberId: 'm', topics: ['t'], owned: {} });
    const none = AssignerProtocol.MemberMetadata.encode({ version: 0, topics: ['t'], userData: Buffer.alloc(0) });
    expect(decodeStickyMember('m', none).owned).toEqual({});
  });
});
