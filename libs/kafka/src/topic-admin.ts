import { Admin, ConfigResourceTypes, Kafka } from 'kafkajs';
import { dlqTopicFor } from './kafka.constants';

/** What the cluster says about replication: its size and the brokers' defaults, where readable. */
export interface ClusterReplication {
  brokers: number;
  defaultReplicationFactor?: number;
  minInsyncReplicas?: number;
}

export interface TopicReplication {
  replicationFactor: number;
  /** Topic-level overrides, only where the broker default would not fit the replication factor. */
  configEntries: { name: string; value: string }[];
}

/**
 * The replication of the topics the services create: TOPIC_REPLICATION_FACTOR if set, else the
 * broker's default.replication.factor but at least min(3, brokers) (Kafka's own default is 1, which
 * would leave a three-broker cluster's topics on one disk), never more than there are brokers.
 * min.insync.replicas is raised to 2 where there are 3+ replicas (one broker may die without
 * losing an acknowledged record or stopping writes) and lowered to the replica count where the
 * broker's default would reject every acks=all write.
 */
export function chooseReplication(cluster: ClusterReplication, override?: number): TopicReplication {
  const brokers = Math.max(1, cluster.brokers);
  const replicationFactor = Math.min(
    brokers,
    override ?? Math.max(cluster.defaultReplicationFactor ?? 1, Math.min(3, brokers)),
  );
  const configEntries: { name: string; value: string }[] = [];
  if (cluster.minInsyncReplicas !== undefined) {
    const floor = replicationFactor >= 3 ? 2 : 1;
    const minInsync = Math.min(replicationFactor, Math.max(floor, cluster.minInsyncReplicas));
    if (minInsync !== cluster.minInsyncReplicas) {
      configEntries.push({ name: 'min.insync.replicas', value: String(minInsync) });
    }
  }
  return { replicationFactor, configEntries };
}

/** Broker count from the metadata; the defaults from one broker's config (DescribeConfigs may be denied). */
export async function describeReplication(admin: Admin): Promise<ClusterReplication> {
  const { brokers } = await admin.describeCluster();
  const replication: ClusterReplication = { brokers: brokers.length };
  try {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        {
          type: ConfigResourceTypes.BROKER,
          name: String(brokers[0].nodeId),
          configNames: ['default.replication.factor', 'min.insync.replicas'],
        },
      ],
    });
    const value = (name: string) => {
      const entry = resources[0]?.configEntries.find((e) => e.configName === name);
      return entry ? Number(entry.configValue) : undefined;
    };
    replication.defaultReplicationFactor = value('default.replication.factor');
    replication.minInsyncReplicas = value('min.insync.replicas');
  } catch {
    // Without the broker's defaults: min(3, brokers) replicas and the cluster's min.insync.replicas.
  }
  return replication;
}

/**
 * Creates the pipeline topics and their DLQs if missing, replicated as the cluster allows
 * (chooseReplication). Existing topics are left as they are (operators own partition counts
 * and replication once a topic exists).
 */
export async function ensureTopics(
  kafka: Kafka,
  topics: string[],
  partitions: number,
  replicationFactor?: number,
  { dlq = true }: { dlq?: boolean } = {},
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = [...new Set(topics.flatMap((t) => (dlq ? [t, dlqTopicFor(t)] : [t])))].filter(
      (t) => !existing.has(t),
    );
    if (wanted.length === 0) return;
    const replication = chooseReplication(await describeReplication(admin), replicationFactor);
    await admin.createTopics({
      waitForLeaders: true,
      topics: wanted.map((topic) => ({
        topic,
        numPartitions: topic.endsWith('.dlq') ? 1 : partitions,
        ...replication,
      })),
    });
  } finally {
    await admin.disconnect();
  }
}
