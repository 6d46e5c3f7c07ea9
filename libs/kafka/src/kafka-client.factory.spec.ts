import { loadCommonConfig } from '@app/config';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kafkaSecurityOptions } from './kafka-client.factory';

const dir = mkdtempSync(join(tmpdir(), 'kafka-factory-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const CA = '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n';
const security = (env: Record<string, string>) => loadCommonConfig(env).kafka.security;

describe('kafkaSecurityOptions', () => {
  it('gives kafkajs nothing for PLAINTEXT', () => {
    expect(kafkaSecurityOptions(security({}))).toEqual({});
    expect(kafkaSecurityOptions(undefined)).toEqual({});
  });

  it('maps mutual TLS files to tls options', () => {
    const options = kafkaSecurityOptions(
      security({
        KAFKA_SSL_CA_FILE: file('ca.pem', CA),
        KAFKA_SSL_CERT_FILE: file('cert.pem', CERT),
        KAFKA_SSL_KEY_FILE: file('key.pem', KEY),
        KAFKA_SSL_KEY_PASSWORD: 'key-pass',
      }),
    );
    expect(options.sasl).toBeUndefined();
    expect(options.ssl).toEqual({ rejectUnauthorized: true, ca: [CA], cert: CERT, key: KEY, passphrase: 'key-pass' });
  });

  it.each([
    ['PLAIN', 'plain'],
    ['SCRAM-SHA-256', 'scram-sha-256'],
    ['SCRAM-SHA-512', 'scram-sha-512'],
  ])('maps %s with its credentials over TLS', (mechanism, expected) => {
    const options = kafkaSecurityOptions(
      security({
        KAFKA_SASL_MECHANISM: mechanism,
        KAFKA_SASL_USERNAME: 'svc',
        KAFKA_SASL_PASSWORD_FILE: file('pw', 'pw\n'),
      }),
    );
    expect(options.ssl).toEqual({ rejectUnauthorized: true });
    expect(options.sasl).toEqual({ mechanism: expected, username: 'svc', password: 'pw' });
  });

  it('maps OAUTHBEARER to a provider that reads the token file again at each login', async () => {
    const path = file('token', 'token-1\n');
    const options = kafkaSecurityOptions(
      security({ KAFKA_SASL_MECHANISM: 'OAUTHBEARER', KAFKA_SASL_OAUTH_TOKEN_FILE: path }),
    );
    const sasl = options.sasl as { mechanism: string; oauthBearerProvider: () => Promise<{ value: string }> };
    expect(sasl.mechanism).toBe('oauthbearer');
    expect(await sasl.oauthBearerProvider()).toEqual({ value: 'token-1' });
    writeFileSync(path, 'token-2\n');
    expect(await sasl.oauthBearerProvider()).toEqual({ value: 'token-2' });
  });

  it('keeps SASL without TLS when asked (SASL_PLAINTEXT)', () => {
    const options = kafkaSecurityOptions(
      security({
        KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT',
        KAFKA_SASL_MECHANISM: 'PLAIN',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: 'p',
      }),
    );
    expect(options.ssl).toBeUndefined();
    expect(options.sasl).toMatchObject({ mechanism: 'plain' });
  });
});
