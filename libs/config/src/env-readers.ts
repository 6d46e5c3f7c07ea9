import { ConfigError } from './config.errors';
import { redactUrl } from './secret';

export type Env = Record<string, string | undefined>;

// Small typed readers: each one names the variable when the value is bad, so boot fails loudly.

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function readString(env: Env, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

export function readInt(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!/^-?\d+$/.test(value)) throw new ConfigError(name, `must be an integer, got "${value}"`);
  const parsed = Number(value);
  if (parsed < min || parsed > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${parsed}`);
  return parsed;
}

export function readEnum<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${value}"`);
  }
  return value as T;
}

export function readUrl(env: Env, name: string, fallback: string): string {
  const value = raw(env, name) ?? fallback;
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
  } catch {
    throw new ConfigError(name, `must be an http(s) URL, got "${redactUrl(value)}"`);
  }
  return value.replace(/\/+$/, '');
}

/** Comma-separated host:port list, as Kafka clients take it. */
export function readBrokers(env: Env, name: string, fallback: string): string[] {
  const value = raw(env, name) ?? fallback;
  const brokers = value
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  if (brokers.length === 0) throw new ConfigError(name, 'must list at least one host:port');
  for (const broker of brokers) {
    const match = /^([^:\s]+):(\d{1,5})$/.exec(broker);
    if (!match || Number(match[2]) > 65535) throw new ConfigError(name, `has "${broker}", expected host:port`);
  }
  return brokers;
}

export function readTopic(env: Env, name: string, fallback: string): string {
  const value = readString(env, name, fallback);
  // Kafka's own rule for legal topic names.
  if (!/^[a-zA-Z0-9._-]{1,249}$/.test(value)) {
    throw new ConfigError(name, `must be a legal Kafka topic name ([a-zA-Z0-9._-], 1-249 chars), got "${value}"`);
  }
  return value;
}
