/** Headers every DLQ record carries: stage, error class and message, source topic/partition/offset (README.md, "Streams"). */
export const DLQ_HEADERS = {
  stage: 'dlq.stage',
  errorClass: 'dlq.error.class',
  errorMessage: 'dlq.error.message',
  topic: 'dlq.source.topic',
  partition: 'dlq.source.partition',
  offset: 'dlq.source.offset',
  failedAt: 'dlq.failed.at',
  /** Only on a copy cut short because the broker refused the whole one: the original value's size in bytes. */
  truncated: 'dlq.truncated',
} as const;

/**
 * Where a record's answer goes besides the output topic (as Spring's ReplyingKafkaTemplate names it):
 * a gateway's sync /predict sets them, the stages carry them on (libs/stage, reply-route.ts).
 */
export const REPLY_TOPIC_HEADER = 'reply-topic';
export const REPLY_PARTITION_HEADER = 'reply-partition';

export const dlqTopicFor = (topic: string): string => `${topic}.dlq`;

/** Nest injection token for the shared kafkajs client. */
export const KAFKA_CLIENT = Symbol('KAFKA_CLIENT');
