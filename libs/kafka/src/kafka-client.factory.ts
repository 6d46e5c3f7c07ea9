import { Logger } from '@nestjs/common';
import type { KafkaSecurity } from '@app/config';
import { Kafka, KafkaConfig, logLevel, LogEntry, SASLOptions } from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';
import { patchKafkajsIdleLoop } from './kafkajs-idle-loop.patch';

/**
 * kafkajs warns on every idempotent producer whose client limits retries. Here a send that kafkajs
 * gives up on is sent again by the caller (sendUntilAcked) and the input offset is committed only
 * after the ack: at least once, as designed, so it is no problem and is not logged.
 */
const EXPECTED = /^Limiting retries for the idempotent producer/;

function nestLog(logger: Logger, { namespace, level, log }: LogEntry): void {
  const { message, error } = log as { message: string; error?: string };
  const line = `${namespace ? `${namespace}: ` : ''}${message}${error ? ` (${error})` : ''}`;
  if (EXPECTED.test(message)) return;
  if (level === logLevel.ERROR) logger.error(line);
  else if (level === logLevel.WARN) logger.warn(line);
  else if (level === logLevel.INFO) logger.log(line);
  else logger.debug(line);
}

/** kafkajs's `ssl` and `sasl` options from the validated settings (docs/security.md). */
export function kafkaSecurityOptions(security?: KafkaSecurity): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  if (!security || security.protocol === 'PLAINTEXT') return {};
  const options: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (security.tls) {
    const { ca, cert, key, keyPassword, rejectUnauthorized } = security.tls;
    const tls: ConnectionOptions = { rejectUnauthorized };
    if (ca) tls.ca = [ca];
    if (cert && key) Object.assign(tls, { cert, key, passphrase: keyPassword?.reveal() });
    options.ssl = tls;
  }
  const sasl = security.sasl;
  if (sasl?.mechanism === 'OAUTHBEARER') {
    options.sasl = {
      mechanism: 'oauthbearer',
      oauthBearerProvider: () => Promise.resolve({ value: sasl.token().reveal() }),
    };
  } else if (sasl) {
    const mechanism = sasl.mechanism.toLowerCase() as 'plain' | 'scram-sha-256' | 'scram-sha-512';
    options.sasl = { mechanism, username: sasl.username, password: sasl.password.reveal() } as SASLOptions;
  }
  return options;
}

/** A kafkajs client that logs through Nest's logger instead of its own JSON lines. */
export function createKafka(
  brokers: string[],
  clientId: string,
  level = logLevel.WARN,
  security?: KafkaSecurity,
): Kafka {
  const logger = new Logger('kafkajs');
  patchKafkajsIdleLoop();
  return new Kafka({
    clientId,
    brokers,
    logLevel: level,
    ...kafkaSecurityOptions(security),
    // Short waits between attempts, so that a broker that is back is found again within ~2 s.
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 2_000 },
    logCreator: () => (entry) => nestLog(logger, entry),
  });
}
