import { readFileSync } from 'node:fs';
import { ConfigError } from './config.errors';
import { Env, readEnum, readString } from './env-readers';
import { Secret } from './secret';

export const KAFKA_SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export type KafkaSecurityProtocol = (typeof KAFKA_SECURITY_PROTOCOLS)[number];
export const KAFKA_SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

/** PEM contents, read at boot (a missing or unreadable file stops the process naming the variable). */
export interface KafkaTls {
  ca?: string;
  cert?: string;
  key?: string;
  keyPassword?: Secret;
  rejectUnauthorized: boolean;
}

export type KafkaSasl =
  | { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: Secret }
  /** A static token, or a file read again at every login so that a sidecar can rotate it. */
  | { mechanism: 'OAUTHBEARER'; token: () => Secret };

export interface KafkaSecurity {
  protocol: KafkaSecurityProtocol;
  tls?: KafkaTls;
  sasl?: KafkaSasl;
}

export interface RegistryAuth {
  /** Basic auth (Confluent Cloud: API key and secret) or a bearer token; never both. */
  username?: string;
  password?: Secret;
  token?: Secret;
}

function readFileNamed(env: Env, name: string): string | undefined {
  const path = readString(env, name, '');
  if (path === '') return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      name,
      `names a file that cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

/**
 * A secret from `NAME` or from the file named by `NAME_FILE` (Docker/Kubernetes secrets), never both.
 * The value is never part of an error message.
 */
export function readSecret(env: Env, name: string): Secret | undefined {
  const direct = env[name];
  const fromFile = readFileNamed(env, `${name}_FILE`);
  if (direct !== undefined && direct !== '' && fromFile !== undefined) {
    throw new ConfigError(name, `and ${name}_FILE are both set; use one`);
  }
  const value = fromFile !== undefined ? fromFile.replace(/\r?\n$/, '') : direct;
  if (value === undefined || value === '') {
    if (fromFile !== undefined) throw new ConfigError(`${name}_FILE`, 'names an empty file');
    return undefined;
  }
  return new Secret(value);
}

function readPem(env: Env, name: string, marker: RegExp): string | undefined {
  const text = readFileNamed(env, name);
  if (text !== undefined && !marker.test(text)) throw new ConfigError(name, 'is not a PEM file of the expected kind');
  return text;
}

export function loadKafkaSecurity(env: Env): KafkaSecurity {
  const mechanismSet = readString(env, 'KAFKA_SASL_MECHANISM', '') !== '';
  const tls: KafkaTls = {
    ca: readPem(env, 'KAFKA_SSL_CA_FILE', /-----BEGIN CERTIFICATE-----/),
    cert: readPem(env, 'KAFKA_SSL_CERT_FILE', /-----BEGIN CERTIFICATE-----/),
    key: readPem(env, 'KAFKA_SSL_KEY_FILE', /-----BEGIN [A-Z ]*PRIVATE KEY-----/),
    keyPassword: readSecret(env, 'KAFKA_SSL_KEY_PASSWORD'),
    rejectUnauthorized: readEnum(env, 'KAFKA_SSL_REJECT_UNAUTHORIZED', '1', ['0', '1'] as const) === '1',
  };
  const tlsFiles = Boolean(tls.ca || tls.cert || tls.key);
  // Unset: what the other settings imply (a SASL mechanism → SASL_SSL; TLS files → SSL).
  const implied: KafkaSecurityProtocol = mechanismSet ? 'SASL_SSL' : tlsFiles ? 'SSL' : 'PLAINTEXT';
  const protocol = readEnum(env, 'KAFKA_SECURITY_PROTOCOL', implied, KAFKA_SECURITY_PROTOCOLS);
  const usesTls = protocol === 'SSL' || protocol === 'SASL_SSL';
  const usesSasl = protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL';

  if (!usesTls && tlsFiles)
    throw new ConfigError('KAFKA_SECURITY_PROTOCOL', `is ${protocol}, but KAFKA_SSL_* files are set`);
  if (Boolean(tls.cert) !== Boolean(tls.key)) {
    throw new ConfigError(
      tls.cert ? 'KAFKA_SSL_KEY_FILE' : 'KAFKA_SSL_CERT_FILE',
      'is required with the other of the pair',
    );
  }
  if (!usesSasl && mechanismSet) {
    throw new ConfigError('KAFKA_SASL_MECHANISM', `is set, but KAFKA_SECURITY_PROTOCOL is ${protocol}`);
  }
  let sasl: KafkaSasl | undefined;
  if (usesSasl) {
    if (!mechanismSet) throw new ConfigError('KAFKA_SASL_MECHANISM', `is required with ${protocol}`);
    const mechanism = readEnum(env, 'KAFKA_SASL_MECHANISM', 'SCRAM-SHA-512', KAFKA_SASL_MECHANISMS);
    if (mechanism === 'OAUTHBEARER') {
      sasl = { mechanism, token: oauthToken(env) };
    } else {
      const username = readSecret(env, 'KAFKA_SASL_USERNAME')?.reveal();
      if (!username) throw new ConfigError('KAFKA_SASL_USERNAME', `is required with KAFKA_SASL_MECHANISM=${mechanism}`);
      const password = readSecret(env, 'KAFKA_SASL_PASSWORD');
      if (!password)
        throw new ConfigError('KAFKA_SASL_PASSWORD', `(or KAFKA_SASL_PASSWORD_FILE) is required with ${mechanism}`);
      sasl = { mechanism, username, password };
    }
  }
  return { protocol, tls: usesTls ? tls : undefined, sasl };
}

function oauthToken(env: Env): () => Secret {
  const path = readString(env, 'KAFKA_SASL_OAUTH_TOKEN_FILE', '');
  const first = readSecret(env, 'KAFKA_SASL_OAUTH_TOKEN');
  if (!first)
    throw new ConfigError('KAFKA_SASL_OAUTH_TOKEN', '(or KAFKA_SASL_OAUTH_TOKEN_FILE) is required with OAUTHBEARER');
  if (path === '') return () => first;
  return () => new Secret(readFileSync(path, 'utf8').trim());
}

export function loadRegistryAuth(env: Env, url: string): RegistryAuth {
  const parsed = new URL(url);
  if (parsed.username || parsed.password) {
    // Node's fetch refuses such URLs, and a URL ends up in logs: credentials have their own settings.
    throw new ConfigError(
      'SCHEMA_REGISTRY_URL',
      'must not carry credentials; use SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD (or SCHEMA_REGISTRY_TOKEN)',
    );
  }
  const username = readSecret(env, 'SCHEMA_REGISTRY_USERNAME')?.reveal();
  const password = readSecret(env, 'SCHEMA_REGISTRY_PASSWORD');
  const token = readSecret(env, 'SCHEMA_REGISTRY_TOKEN');
  if (Boolean(username) !== Boolean(password)) {
    throw new ConfigError(
      username ? 'SCHEMA_REGISTRY_PASSWORD' : 'SCHEMA_REGISTRY_USERNAME',
      'is required with the other',
    );
  }
  if (token && username)
    throw new ConfigError('SCHEMA_REGISTRY_TOKEN', 'and SCHEMA_REGISTRY_USERNAME are both set; use one');
  if ((token || username) && parsed.protocol !== 'https:' && !isLoopback(parsed.hostname)) {
    throw new ConfigError(
      'SCHEMA_REGISTRY_URL',
      'must be https:// when registry credentials are set (plain http only on localhost)',
    );
  }
  // A private CA for an https registry: NODE_EXTRA_CA_CERTS (read by Node itself, for fetch and https alike).
  return { username, password, token };
}

const isLoopback = (host: string) => host === 'localhost' || host === '127.0.0.1' || host === '[::1]';

/** The shared key inference signs predictions with and the gateway checks them with (HMAC-SHA256). */
export function loadSigningKey(env: Env): Secret | undefined {
  const key = readSecret(env, 'PREDICTION_SIGNING_KEY');
  if (key && Buffer.byteLength(key.reveal()) < 32) {
    throw new ConfigError('PREDICTION_SIGNING_KEY', 'must be at least 32 bytes (e.g. `openssl rand -hex 32`)');
  }
  return key;
}
