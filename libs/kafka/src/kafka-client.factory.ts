import { Logger } from '@nestjs/common';
import { Kafka, logLevel, LogEntry } from 'kafkajs';

function nestLog(logger: Logger, { namespace, level, log }: LogEntry): void {
  const { message, error } = log as { message: string; error?: string };
  const line = `${namespace}: ${message}${error ? ` (${error})` : ''}`;
  if (level === logLevel.ERROR) logger.error(line);
  else if (level === logLevel.WARN) logger.warn(line);
  else if (level === logLevel.INFO) logger.log(line);
  else logger.debug(line);
}

/** A kafkajs client that logs through Nest's logger instead of its own JSON lines. */
export function createKafka(brokers: string[], clientId: string, level = logLevel.WARN): Kafka {
  const logger = new Logger('kafkajs');
  return new Kafka({
    clientId,
    brokers,
    logLevel: level,
    // Short waits between attempts, so that a broker that is back is found again within ~2 s.
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 2_000 },
    logCreator: () => (entry) => nestLog(logger, entry),
  });
}
