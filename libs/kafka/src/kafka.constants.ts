/** Headers every DLQ record carries (DESIGN.md: stage, error class and message, source topic/partition/offset). */
export const DLQ_HEADERS = {
  stage: 'dlq.stage',
  errorClass: 'dlq.error.class',
  errorMessage: 'dlq.error.message',
  topic: 'dlq.source.topic',
  partition: 'dlq.source.partition',
  offset: 'dlq.source.offset',
  failedAt: 'dlq.failed.at',
} as const;

export const dlqTopicFor = (topic: string): string => `${topic}.dlq`;

/** Nest injection token for the shared kafkajs client. */
export const KAFKA_CLIENT = Symbol('KAFKA_CLIENT');
