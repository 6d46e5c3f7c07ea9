import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { loadConfig, loadGatewayConfig } from './app-config';
import { ConfigError } from './config.errors';
import { redactUrl } from './secret';

const dir = mkdtempSync(join(tmpdir(), 'sec-config-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const CA = file('ca.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
const KEY = file('key.pem', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
const SECRET = 'hunter2-very-secret-password';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('Kafka security settings', () => {
  it('is PLAINTEXT with nothing set', () => {
    expect(loadConfig({}).kafka.security).toEqual({ protocol: 'PLAINTEXT', tls: undefined, sasl: undefined });
  });

  it('reads SASL_SSL with SCRAM, the CA file and the password from a *_FILE path', () => {
    const config = loadConfig({
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'gateway',
      KAFKA_SASL_PASSWORD_FILE: file('pw', `${SECRET}\n`),
      KAFKA_SSL_CA_FILE: CA,
    });
    const { security } = config.kafka;
    expect(security.protocol).toBe('SASL_SSL');
    expect(security.tls?.ca).toContain('BEGIN CERTIFICATE');
    expect(security.sasl).toMatchObject({ mechanism: 'SCRAM-SHA-512', username: 'gateway' });
    expect(security.sasl?.mechanism !== 'OAUTHBEARER' && security.sasl?.password.reveal()).toBe(SECRET);
  });

  it('never prints a secret: inspect, JSON and template strings of the whole config show [redacted]', () => {
    const config = loadGatewayConfig({
      KAFKA_SASL_MECHANISM: 'PLAIN',
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD: SECRET,
      SCHEMA_REGISTRY_URL: 'https://registry.example',
      SCHEMA_REGISTRY_USERNAME: 'key',
      SCHEMA_REGISTRY_PASSWORD: `${SECRET}-reg`,
      GATEWAY_API_KEYS: `${SECRET}-api-key`,
      PREDICTION_SIGNING_KEY: `${SECRET}-${'x'.repeat(32)}`,
    });
    for (const text of [
      inspect(config, { depth: 10 }),
      JSON.stringify(config),
      String(config.registry.auth.password),
    ]) {
      expect(text).not.toContain(SECRET);
      expect(text).toContain('[redacted]');
    }
  });

  it.each([
    [{ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' }, 'KAFKA_SASL_MECHANISM', /is required with SASL_SSL/],
    [{ KAFKA_SASL_MECHANISM: 'GSSAPI' }, 'KAFKA_SASL_MECHANISM', /must be one of PLAIN, SCRAM-SHA-256/],
    [{ KAFKA_SASL_MECHANISM: 'PLAIN' }, 'KAFKA_SASL_USERNAME', /is required/],
    [{ KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: 'u' }, 'KAFKA_SASL_PASSWORD', /is required/],
    [{ KAFKA_SASL_MECHANISM: 'OAUTHBEARER' }, 'KAFKA_SASL_OAUTH_TOKEN', /is required/],
    [{ KAFKA_SECURITY_PROTOCOL: 'PLAINTEXT', KAFKA_SASL_MECHANISM: 'PLAIN' }, 'KAFKA_SASL_MECHANISM', /PLAINTEXT/],
    [{ KAFKA_SSL_CA_FILE: '/nonexistent/ca.pem' }, 'KAFKA_SSL_CA_FILE', /cannot be read \(ENOENT\)/],
    [{ KAFKA_SSL_CA_FILE: KEY }, 'KAFKA_SSL_CA_FILE', /not a PEM file/],
    [{ KAFKA_SSL_CERT_FILE: CA }, 'KAFKA_SSL_KEY_FILE', /required with the other/],
    [
      {
        KAFKA_SASL_MECHANISM: 'PLAIN',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: SECRET,
        KAFKA_SASL_PASSWORD_FILE: file('pw2', 'x'),
      },
      'KAFKA_SASL_PASSWORD',
      /both set/,
    ],
    [{ SCHEMA_REGISTRY_URL: `https://u:${SECRET}@reg.example` }, 'SCHEMA_REGISTRY_URL', /must not carry credentials/],
    [{ SCHEMA_REGISTRY_URL: 'http://reg.example', SCHEMA_REGISTRY_TOKEN: SECRET }, 'SCHEMA_REGISTRY_URL', /https/],
    [{ SCHEMA_REGISTRY_USERNAME: 'u' }, 'SCHEMA_REGISTRY_PASSWORD', /required/],
    [{ PREDICTION_SIGNING_KEY: 'short' }, 'PREDICTION_SIGNING_KEY', /at least 32 bytes/],
    [{ GATEWAY_API_KEYS: 'short' }, 'GATEWAY_API_KEYS', /under 16 characters/],
    [{ METRICS_REQUIRE_KEY: '1' }, 'METRICS_REQUIRE_KEY', /no GATEWAY_API_KEYS/],
    [{ MAX_TEXT_BYTES: '1048576' }, 'MAX_TEXT_BYTES', /must not exceed KAFKA_MAX_MESSAGE_BYTES=1048588/],
  ])('rejects %p naming %s, without echoing a secret', (env, variable, message) => {
    const error = configError(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain(SECRET);
  });

  it('reads API keys from the env and from a keys file, skipping comments', () => {
    const path = file('keys', '# team a\nkey-aaaaaaaaaaaaaaaa\n\nkey-bbbbbbbbbbbbbbbb\n');
    const config = loadGatewayConfig({ GATEWAY_API_KEYS_FILE: path });
    expect(config.gateway.apiKeys.map((k) => k.reveal())).toEqual(['key-aaaaaaaaaaaaaaaa', 'key-bbbbbbbbbbbbbbbb']);
    const inline = loadGatewayConfig({ GATEWAY_API_KEYS: 'key-cccccccccccccccc, key-dddddddddddddddd' });
    expect(inline.gateway.apiKeys).toHaveLength(2);
    expect(config.gateway.metricsRequireKey).toBe(true);
  });
});

describe('redactUrl', () => {
  it('drops user info and query values', () => {
    expect(redactUrl(`https://user:${SECRET}@reg.example/x?token=${SECRET}`)).toBe(
      'https://***@reg.example/x?token=***',
    );
    expect(redactUrl('not a url')).toBe('[unparseable URL]');
  });
});
