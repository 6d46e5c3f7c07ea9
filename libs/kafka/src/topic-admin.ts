import { Kafka } from 'kafkajs';
import { dlqTopicFor } from './kafka.constants';

/**
 * Creates the pipeline topics and their DLQs if missing. Existing topics are left as they are
 * (operators own partition counts once a topic exists).
 */
export async function ensureTopics(
  kafka: Kafka,
  topics: string[],
  partitions: number,
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
    await admin.createTopics({
      waitForLeaders: true,
      topics: wanted.map((topic) => ({
        topic,
        numPartitions: topic.endsWith('.dlq') ? 1 : partitions,
        replicationFactor: -1,
      })),
    });
  } finally {
    await admin.disconnect();
  }
}
