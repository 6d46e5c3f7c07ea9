import type { Kafka } from 'kafkajs';
import { kafkaErrorType } from './kafka-errors';

/** The part of a kafkajs cluster connection used here (kafkajs keeps the class itself private). */
interface CoordinatorBroker {
  leaveGroup(request: { groupId: string; memberId: string }): Promise<unknown>;
}
interface ClusterConnection {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  findGroupCoordinator(request: { groupId: string }): Promise<CoordinatorBroker>;
}
type CreateCluster = (options: { metadataMaxAge: number; allowAutoTopicCreation: boolean }) => ClusterConnection;

/** The name kafkajs 2 gives its own cluster factory on a Kafka instance. */
const CLUSTER_FACTORY = 'private:Kafka:createCluster';

/**
 * Removes a given member from a consumer group at once: a LeaveGroup for that member id, sent to the
 * group's coordinator. kafkajs sends LeaveGroup only for its own consumer (on disconnect) and has no
 * static membership; this is for the member a killed process left behind (docs/ARCHITECTURE.md,
 * "Restarts"). The connection is made by the Kafka instance's own cluster factory, so brokers, TLS,
 * SASL and timeouts are exactly those of every other client of the process.
 */
export class GroupMembershipAdapter {
  private readonly createCluster?: CreateCluster;

  constructor(kafka: Kafka) {
    const key = Object.getOwnPropertySymbols(kafka).find((s) => s.description === CLUSTER_FACTORY);
    const factory = key && (kafka as unknown as Record<symbol, unknown>)[key];
    if (typeof factory === 'function') this.createCluster = factory as CreateCluster;
  }

  /** Whether this kafkajs version lets the adapter connect (else stale members wait for their session timeout). */
  get supported(): boolean {
    return this.createCluster !== undefined;
  }

  /** Returns false when the coordinator no longer knows the member (its session had already expired). */
  async removeMember(groupId: string, memberId: string): Promise<boolean> {
    if (!this.createCluster) throw new Error(`this kafkajs version has no ${CLUSTER_FACTORY}`);
    const cluster = this.createCluster({ metadataMaxAge: 300_000, allowAutoTopicCreation: false });
    try {
      await cluster.connect();
      const coordinator = await cluster.findGroupCoordinator({ groupId });
      await coordinator.leaveGroup({ groupId, memberId });
      return true;
    } catch (error) {
      if (kafkaErrorType(error) === 'UNKNOWN_MEMBER_ID') return false;
      throw error;
    } finally {
      await cluster.disconnect().catch(() => undefined);
    }
  }
}
