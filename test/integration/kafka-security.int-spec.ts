import { loadCommonConfig } from '@app/config';
import { createKafka, isAccessDenied } from '@app/kafka';
import { SecureInfra, uniqueSuffix } from '@app/testing';
import { Kafka, logLevel } from 'kafkajs';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';

/**
 * Against a real SASL_SSL broker with SCRAM users and ACLs (infra/infra.sh up --secure), through the
 * project's own config loader and client factory, as the services build their clients.
 */
describe('Kafka security against a real SASL_SSL broker', () => {
  let infra: SecureInfra;

  beforeAll(async () => {
    infra = await SecureInfra.allocate('kafka');
    await infra.up();
  }, 300_000);

  afterAll(async () => {
    await infra?.down();
  }, 60_000);

  const clientFor = (env: Record<string, string>) => {
    const config = loadCommonConfig(env);
    return createKafka(config.kafka.brokers, `sec-test-${uniqueSuffix()}`, logLevel.NOTHING, config.kafka.security);
  };

  async function produce(kafka: Kafka, topic: string): Promise<void> {
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'v' }] });
    } finally {
      await producer.disconnect();
    }
  }

  it('lets the gateway principal write raw over SASL_SSL (SCRAM-SHA-512, password from a file)', async () => {
    await expect(produce(clientFor(infra.envFor('gateway')), 'raw')).resolves.toBeUndefined();
  });

  it.each(['SCRAM-SHA-256', 'PLAIN'])('accepts the %s mechanism too', async (mechanism) => {
    const kafka = clientFor({ ...infra.envFor('gateway'), KAFKA_SASL_MECHANISM: mechanism });
    await expect(produce(kafka, 'raw')).resolves.toBeUndefined();
  });

  it('refuses a wrong password at once, with a clear non-retriable error', async () => {
    const { KAFKA_SASL_PASSWORD_FILE: _unused, ...env } = infra.envFor('gateway');
    const kafka = clientFor({ ...env, KAFKA_SASL_PASSWORD: 'not-the-password' });
    const started = Date.now();
    const error = await produce(kafka, 'raw').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('KafkaJSSASLAuthenticationError');
    expect((error as Error).message).toMatch(/SASL SCRAM SHA512 authentication failed/);
    expect((error as Error).message).not.toContain('not-the-password');
    expect(isAccessDenied(error)).toBe(true);
    // One refused login (the broker delays it by 1 s), not kafkajs's 8 retries with backoff.
    expect(Date.now() - started).toBeLessThan(8_000);
  });

  it('refuses the preprocessor writing to predictions (no ACL)', async () => {
    const error = await produce(clientFor(infra.envFor('preprocessor')), 'predictions').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(JSON.stringify({ m: (error as Error).message, t: (error as { type?: string }).type })).toMatch(
      /TOPIC_AUTHORIZATION_FAILED|not authorized/i,
    );
    expect(isAccessDenied(error)).toBe(true);
  });

  it('refuses the gateway reading raw (no ACL)', async () => {
    const kafka = clientFor(infra.envFor('gateway'));
    const consumer = kafka.consumer({ groupId: `gateway-${uniqueSuffix()}` });
    await consumer.connect();
    try {
      const error = await consumer.subscribe({ topics: ['raw'] }).then(
        () => consumer.run({ eachMessage: async () => undefined }).then(() => 'ran'),
        (e: unknown) => e,
      );
      // kafkajs reports the refusal either at subscribe (metadata) or from the group's fetch.
      if (error === 'ran') {
        const crashed = await new Promise<unknown>((resolve) =>
          consumer.on(consumer.events.CRASH, (e) => resolve(e.payload.error)),
        );
        expect(isAccessDenied(crashed)).toBe(true);
      } else {
        expect(isAccessDenied(error)).toBe(true);
      }
    } finally {
      await consumer.disconnect();
    }
  });

  it('refuses a client without TLS (PLAINTEXT to the SASL_SSL port)', async () => {
    const kafka = clientFor({ KAFKA_BROKERS: infra.brokers.join(',') });
    const admin = kafka.admin();
    const error = await admin.connect().catch((e: unknown) => e);
    await admin.disconnect();
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toMatch(/KafkaJS(Connection|NumberOfRetriesExceeded|NonRetriable)/);
  });

  it('refuses SASL without TLS (SASL_PLAINTEXT to the SASL_SSL port)', async () => {
    const env = { ...infra.envFor('gateway'), KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT' };
    delete (env as Record<string, string | undefined>).KAFKA_SSL_CA_FILE;
    const error = await produce(clientFor(env), 'raw').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
  });

  it('refuses TLS from a client that does not trust the broker certificate (no CA given)', async () => {
    const env = { ...infra.envFor('gateway') };
    delete (env as Record<string, string | undefined>).KAFKA_SSL_CA_FILE;
    const error = await produce(clientFor(env), 'raw').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(String((error as Error).message)).toMatch(/certificate|self.signed|unable to verify|Connection/i);
  });

  it('binds the broker to localhost only', async () => {
    const canConnect = (host: string) =>
      new Promise<boolean>((resolve) => {
        const socket = connect({ host, port: infra.ports.kafka, timeout: 2_000 }, () => {
          socket.destroy();
          resolve(true);
        });
        socket.on('error', () => resolve(false));
        socket.on('timeout', () => (socket.destroy(), resolve(false)));
      });
    expect(await canConnect('127.0.0.1')).toBe(true);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    const listeners = readFileSync(join(infra.dir, 'kafka', 'server.properties'), 'utf8');
    expect(listeners).toMatch(
      new RegExp(`^listeners=SASL_SSL://localhost:${infra.ports.kafka},CONTROLLER://localhost:`, 'm'),
    );
    if (external) expect(await canConnect(external.address)).toBe(false);
  });
});
