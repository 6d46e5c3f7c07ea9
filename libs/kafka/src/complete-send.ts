import { ICustomPartitioner, Message, Partitioners, ProducerBatch, RecordMetadata, TopicMessages } from 'kafkajs';

/**
 * kafkajs 2 can resolve a send without having written all of it (tulios/kafkajs#1303, seen here in
 * the three-broker e2e: 11 of 5,000 records never reached their topic). A send's retry skips every
 * broker that answered an earlier attempt; when a partition's leader dies mid-send and its new
 * leader is one of those brokers, that partition's records are silently dropped.
 *
 * The check needs to know where each record went. kafkajs places records through the producer's
 * partitioner on every attempt, so `trackedPartitioner` (the default placement, murmur2 as in the
 * Java client) notes the last partition it chose per message object, and `sendEvery` compares those
 * partitions with the ones the broker acknowledged and sends the rest again. A WeakMap keyed by
 * message objects is enough: a message object is in one send at a time, and nothing is kept alive.
 */
const placed = new WeakMap<Message, number>();

/** kafkajs's default partitioner, remembering where it put each message (for `sendEvery`). */
export const trackedPartitioner: ICustomPartitioner = () => {
  const place = Partitioners.DefaultPartitioner();
  return (args) => {
    const partition = place(args);
    placed.set(args.message, partition);
    return partition;
  };
};

/** The messages of `batches` whose partition is not among `acks` (unknown placement counts as acknowledged). */
export function unacknowledged(batches: TopicMessages[], acks: RecordMetadata[]): TopicMessages[] {
  const acked = new Set(acks.map((a) => `${a.topicName}\u0000${a.partition}`));
  const missing: TopicMessages[] = [];
  for (const { topic, messages } of batches) {
    const left = messages.filter((m) => {
      const partition = placed.get(m);
      return partition !== undefined && !acked.has(`${topic}\u0000${partition}`);
    });
    if (left.length > 0) missing.push({ topic, messages: left });
  }
  return missing;
}

/** A producer or a transaction. */
export interface BatchSender {
  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]>;
}

/** Rounds of re-sending dropped records before giving up (one leader move costs one). */
const MAX_ROUNDS = 5;

/** Records a send left unwritten after MAX_ROUNDS; not a refusal of the records, so callers retry it. */
export class IncompleteSendError extends Error {}

const countOf = (batches: TopicMessages[]) => batches.reduce((n, b) => n + b.messages.length, 0);

/**
 * Sends `topicMessages` with acks=all and resolves only once every record's partition was
 * acknowledged, re-sending what kafkajs dropped (see above). The sender's producer must place
 * records with `trackedPartitioner`. Throws as kafkajs does, or IncompleteSendError if records are
 * still missing after a few rounds; the caller retries it like any retriable send failure.
 */
export async function sendEvery(
  sender: BatchSender,
  topicMessages: TopicMessages[],
  logger?: { warn(message: string): void },
): Promise<void> {
  let pending = topicMessages;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const acks = await sender.sendBatch({ topicMessages: pending, acks: -1 });
    pending = unacknowledged(pending, acks);
    if (pending.length === 0) return;
    const topics = pending.map((b) => b.topic).join(', ');
    logger?.warn(
      `kafkajs dropped ${countOf(pending)} record(s) of an acknowledged send to ${topics} (a leader moved); sending them again`,
    );
  }
  throw new IncompleteSendError(
    `kafkajs acknowledged the send but ${countOf(pending)} record(s) were not written after ${MAX_ROUNDS} rounds`,
  );
}
