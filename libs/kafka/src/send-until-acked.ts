import { Logger } from '@nestjs/common';
import type { Message } from 'kafkajs';
import { KafkaProducerAdapter } from './kafka-producer.adapter';

export interface SendUntilAckedOptions {
  logger: Logger;
  /** Returns true once the process is shutting down: give up so the input stays uncommitted. */
  isStopping: () => boolean;
  maxBackoffMs?: number;
}

/**
 * Produces until the broker acknowledges. Outputs are never dropped: while Kafka is down the
 * input is simply not committed, which is what keeps delivery at-least-once.
 */
export async function sendUntilAcked(
  producer: KafkaProducerAdapter,
  batches: { topic: string; messages: Message[] }[],
  options: SendUntilAckedOptions,
): Promise<void> {
  const maxBackoffMs = options.maxBackoffMs ?? 5_000;
  for (let attempt = 0; ; attempt++) {
    try {
      await producer.sendBatch(batches);
      return;
    } catch (error) {
      if (options.isStopping()) throw error;
      const wait = Math.min(maxBackoffMs, 100 * 2 ** attempt);
      options.logger.warn(`produce failed (${(error as Error).message}); retrying in ${wait} ms`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
