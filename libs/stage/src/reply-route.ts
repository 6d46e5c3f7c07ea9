import { REPLY_PARTITION_HEADER, REPLY_TOPIC_HEADER } from '@app/kafka';
import type { IHeaders } from 'kafkajs';

/*
 * Reply routing: a gateway waiting for a sync /predict puts its own replies topic and partition on
 * the raw record (reply-topic, reply-partition); every stage carries them onto its outputs, and the
 * last stage writes its output there as well as onto its output topic. A record without them (any
 * other producer) is answered on the output topic only.
 */

export interface ReplyDestination {
  topic: string;
  partition: number;
}

/** The replies topic the last stage writes to (only this one: a header must not steer writes elsewhere). */
export interface ReplyTopic {
  topic: string;
  partitions: number;
}

const text = (value: IHeaders[string]): string | undefined => {
  const one = Array.isArray(value) ? value[0] : value;
  return one === undefined ? undefined : one.toString();
};

/** The reply headers of an input record, to carry onto its outputs (none when it has none). */
export function replyHeaders(headers: IHeaders | undefined): Record<string, string> {
  const topic = text(headers?.[REPLY_TOPIC_HEADER]);
  const partition = text(headers?.[REPLY_PARTITION_HEADER]);
  if (topic === undefined || partition === undefined) return {};
  return { [REPLY_TOPIC_HEADER]: topic, [REPLY_PARTITION_HEADER]: partition };
}

/**
 * Where to write the reply to this record: its headers' destination when that is the configured
 * replies topic and one of its partitions; otherwise none (the output topic still gets the output).
 */
export function replyDestination(headers: IHeaders | undefined, replies: ReplyTopic): ReplyDestination | undefined {
  const named = replyHeaders(headers);
  const topic = named[REPLY_TOPIC_HEADER];
  const partition = named[REPLY_PARTITION_HEADER];
  if (topic !== replies.topic || !/^\d{1,9}$/.test(partition ?? '')) return undefined;
  const index = Number(partition);
  return index < replies.partitions ? { topic, partition: index } : undefined;
}
