import { AssignerProtocol, PartitionAssigner } from 'kafkajs';

/** Partitions by topic, as kafkajs's MemberAssignment holds them. */
export type TopicPartitions = Record<string, number[]>;

/** One member of the group as the leader sees it: what it subscribes to and what it says it owns. */
export interface StickyMember {
  memberId: string;
  topics: string[];
  owned: TopicPartitions;
}

export const STICKY_ASSIGNER_NAME = 'StickyAssigner';
const VERSION = 0;

/**
 * Each topic's partitions spread over its subscribers so that counts differ by at most 1, and each
 * member keeps as many of the partitions it owns as that balance allows: a join or a leave moves only
 * the partitions that must move. A partition two members claim stays with one of them (the first by
 * member id); claims of partitions that no longer exist are ignored, new partitions go to whoever is
 * short. Deterministic: the same members and partitions give the same assignment. Every member is in
 * the result, with nothing where it gets nothing.
 */
export function assignSticky(members: StickyMember[], partitions: TopicPartitions): Record<string, TopicPartitions> {
  const sorted = [...members].sort((a, b) => compare(a.memberId, b.memberId));
  const result: Record<string, TopicPartitions> = {};
  // Partitions per member over the topics done so far: a topic's extra partitions go to the least loaded.
  const load = new Map<string, number>();
  for (const { memberId } of sorted) {
    result[memberId] = {};
    load.set(memberId, 0);
  }
  for (const topic of Object.keys(partitions).sort(compare)) {
    const subscribers = sorted.filter((m) => m.topics.includes(topic));
    const all = [...new Set(partitions[topic])].sort((a, b) => a - b);
    if (subscribers.length === 0 || all.length === 0) continue;
    const exists = new Set(all);
    const claimedBy = new Map<number, string>();
    const claims = new Map<string, number[]>();
    for (const { memberId, owned } of subscribers) {
      const mine = [...new Set(owned[topic] ?? [])]
        .sort((a, b) => a - b)
        .filter((p) => exists.has(p) && !claimedBy.has(p));
      for (const p of mine) claimedBy.set(p, memberId);
      claims.set(memberId, mine);
    }
    // floor(P/M) each, and one more for P mod M members: those that own the most, so that the most stay put.
    const base = Math.floor(all.length / subscribers.length);
    const extra = all.length % subscribers.length;
    const byClaim = [...subscribers].sort(
      (a, b) =>
        claims.get(b.memberId)!.length - claims.get(a.memberId)!.length ||
        load.get(a.memberId)! - load.get(b.memberId)! ||
        compare(a.memberId, b.memberId),
    );
    const quota = new Map(byClaim.map((m, i) => [m.memberId, base + (i < extra ? 1 : 0)]));
    const kept = new Map<string, number[]>();
    const taken = new Set<number>();
    for (const { memberId } of subscribers) {
      const keep = claims.get(memberId)!.slice(0, quota.get(memberId));
      keep.forEach((p) => taken.add(p));
      kept.set(memberId, keep);
    }
    const free = all.filter((p) => !taken.has(p));
    for (const { memberId } of subscribers) {
      const mine = kept.get(memberId)!;
      mine.push(...free.splice(0, quota.get(memberId)! - mine.length));
      if (mine.length === 0) continue;
      result[memberId][topic] = mine.sort((a, b) => a - b);
      load.set(memberId, load.get(memberId)! + mine.length);
    }
  }
  return result;
}

/** Code-point order, the same on every leader whatever its locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** What a member's metadata says it subscribes to and owns; a member whose userData is unreadable owns nothing. */
export function decodeStickyMember(memberId: string, metadata: Buffer): StickyMember {
  const decoded = AssignerProtocol.MemberMetadata.decode(metadata);
  let owned: TopicPartitions = {};
  try {
    if (decoded?.userData.length) owned = AssignerProtocol.MemberAssignment.decode(decoded.userData)?.assignment ?? {};
  } catch {
    // A member of another assignor version, or garbage: it keeps nothing, and gets its share.
  }
  return { memberId, topics: decoded?.topics ?? [], owned };
}

/**
 * The sticky assignor for one kafkajs consumer (docs/ARCHITECTURE.md, "The partition assignor"). Each member
 * reports the partitions it was last given in its JoinGroup metadata (userData), so the leader can
 * leave them where they are. kafkajs tells an assignor nothing of its member's assignment: the
 * consumer's GROUP_JOIN handler passes it to received(). A kafkajs consumer calls the factory once,
 * so one StickyAssigner serves one consumer instance; a restarted consumer takes a new one (it owns
 * nothing until it joins).
 */
export class StickyAssigner {
  private owned: TopicPartitions = {};

  /** For kafkajs's `partitionAssigners`. */
  readonly assigner: PartitionAssigner = ({ cluster }) => ({
    name: STICKY_ASSIGNER_NAME,
    version: VERSION,
    assign: ({ members, topics }) => {
      const partitions: TopicPartitions = {};
      for (const topic of topics)
        partitions[topic] = cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId);
      const assignment = assignSticky(
        members.map((m) => decodeStickyMember(m.memberId, m.memberMetadata)),
        partitions,
      );
      return Promise.resolve(
        Object.entries(assignment).map(([memberId, partitionsOf]) => ({
          memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({
            version: VERSION,
            assignment: partitionsOf,
            userData: Buffer.alloc(0),
          }),
        })),
      );
    },
    protocol: ({ topics }) => ({
      name: STICKY_ASSIGNER_NAME,
      metadata: AssignerProtocol.MemberMetadata.encode({
        version: VERSION,
        topics,
        userData: AssignerProtocol.MemberAssignment.encode({
          version: VERSION,
          assignment: this.owned,
          userData: Buffer.alloc(0),
        }),
      }),
    }),
  });

  /** The assignment the consumer got at its last join (GROUP_JOIN's memberAssignment). */
  received(assignment: TopicPartitions): void {
    this.owned = Object.fromEntries(Object.entries(assignment).map(([topic, ps]) => [topic, [...ps]]));
  }

  /** What the next join reports as owned. */
  get current(): TopicPartitions {
    return this.owned;
  }
}
