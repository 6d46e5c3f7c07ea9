import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from '@app/config';
import { uniqueSuffix } from './unique';
import { waitFor } from './wait-for';

export const ROOT = projectRoot();
export type AppName = 'gateway' | 'preprocessor' | 'inference';
const PORT_ENV: Record<AppName, string> = {
  gateway: 'GATEWAY_PORT',
  preprocessor: 'PREPROCESSOR_PORT',
  inference: 'INFERENCE_PORT',
};

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const server = createServer();
    server.listen(0, () => {
      const { port } = server.address() as { port: number };
      server.close(() => res(port));
    });
    server.on('error', rej);
  });
}

/** Env for one isolated pipeline: its own topics and consumer groups, so suites never interfere. */
export function isolatedEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const sfx = uniqueSuffix();
  return {
    TOPIC_RAW: `raw-${sfx}`,
    TOPIC_TOKENIZED: `tokenized-${sfx}`,
    TOPIC_PREDICTIONS: `predictions-${sfx}`,
    REPLY_TOPIC: `replies-${sfx}`,
    KAFKA_GROUP_ID_PREFIX: `e2e-${sfx}-`,
    ...overrides,
  };
}

export interface RunningService {
  app: AppName;
  port: number;
  process: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

/** Starts a built service as a user does (`node dist/apps/<app>/apps/<app>/src/main.js`), logging to .e2e/logs. */
export async function startService(app: AppName, env: Record<string, string>): Promise<RunningService> {
  const port = await freePort();
  const logs = join(ROOT, '.e2e', 'logs');
  mkdirSync(logs, { recursive: true });
  const log = createWriteStream(join(logs, `${app}-${port}.log`));
  // SERVICE_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles a service under test or bench.
  const nodeArgs = (env.SERVICE_NODE_ARGS ?? process.env.SERVICE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'dist', 'apps', app, 'apps', app, 'src', 'main.js')], {
    cwd: ROOT,
    env: { ...process.env, ...env, [PORT_ENV[app]]: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return { app, port, process: child, url: `http://localhost:${port}`, exited };
}

export async function waitReady(service: RunningService, timeoutMs = 90_000): Promise<void> {
  let exitCode: number | null | undefined;
  void service.exited.then((code) => (exitCode = code));
  // An exit ends the wait at once (a thrown check would only be retried until the time-out).
  await waitFor(
    async () => {
      if (exitCode !== undefined) return 'exited';
      const res = await fetch(`${service.url}/health/ready`).catch(() => undefined);
      return res?.status === 200;
    },
    { timeoutMs, intervalMs: 250, description: `${service.app} ready on ${service.url}` },
  );
  if (exitCode !== undefined) throw new Error(`${service.app} exited with ${exitCode} (see .e2e/logs)`);
}

export async function stopService(
  service: Pick<RunningService, 'process' | 'exited'>,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (service.process.exitCode !== null || service.process.signalCode !== null) return;
  service.process.kill(signal);
  const timer = setTimeout(() => service.process.kill('SIGKILL'), 20_000);
  await service.exited;
  clearTimeout(timer);
}

/** The three services on isolated topics, all ready. */
export async function startPipeline(env: Record<string, string>): Promise<Record<AppName, RunningService>> {
  const [preprocessor, inference, gateway] = await Promise.all([
    startService('preprocessor', env),
    startService('inference', env),
    startService('gateway', env),
  ]);
  await Promise.all([waitReady(preprocessor), waitReady(inference), waitReady(gateway)]);
  return { preprocessor, inference, gateway };
}

// Tests read JSON answers loosely and let expect() check their shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function postJson(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* keep text */
  }
  return { status: res.status, body: parsed };
}
