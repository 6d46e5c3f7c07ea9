import { ChildProcess, spawn } from 'node:child_process';
import { freePort, isolatedEnv, postJson, ROOT, waitFor } from '@app/testing';
import { Admin, Kafka, logLevel } from 'kafkajs';
import { BROKERS } from '../support/infra-env';

const APPS = ['preprocessor', 'inference', 'gateway'] as const;

/** `npm start` as a user runs it, in a process group of its own, as a terminal gives it. */
function npmStart(env: Record<string, string>): {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    // NO_COLOR: Nest's log lines without colour codes, so they can be matched.
    env: { ...process.env, ...env, NO_COLOR: '1' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe('npm start', () => {
  let admin: Admin;
  let started: ChildProcess | undefined;

  beforeAll(async () => {
    admin = new Kafka({ clientId: 'npm-start-e2e', brokers: BROKERS, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
  });

  afterAll(async () => {
    if (started?.pid && started.exitCode === null && started.signalCode === null) process.kill(-started.pid, 'SIGKILL');
    await admin.disconnect();
  });

  it('starts quietly, and Ctrl-C stops every service through its own drain: exit code 0, consumer groups left', async () => {
    const env = isolatedEnv();
    const prefix = env.KAFKA_GROUP_ID_PREFIX;
    const [gatewayPort, preprocessorPort, inferencePort] = [await freePort(), await freePort(), await freePort()];
    const run = npmStart({
      ...env,
      GATEWAY_PORT: String(gatewayPort),
      PREPROCESSOR_PORT: String(preprocessorPort),
      INFERENCE_PORT: String(inferencePort),
    });
    started = run.child;
    let exitCode: number | null | undefined;
    void run.exited.then((code) => (exitCode = code));

    await waitFor(
      () => {
        if (exitCode !== undefined) throw new Error(`npm start exited with ${exitCode}:\n${run.output()}`);
        return run.output().includes(`gateway ready: http://localhost:${gatewayPort}`);
      },
      { timeoutMs: 240_000, intervalMs: 250, description: 'npm start to print "gateway ready"' },
    );
    const res = await postJson(`http://localhost:${gatewayPort}/predict`, { text: 'WIN a FREE cruise, click now!!!' });
    expect(res.status).toBe(200);

    // A normal first start (new topics, new subjects) prints no warning and no error.
    const startup = run.output();
    expect(startup.split('\n').filter((line) => /\b(WARN|ERROR)\b|Error:|\bwarn\b/.test(line))).toEqual([]);

    // Every service is a member of its consumer group while it runs.
    const groupIds = await waitFor(
      async () => {
        const gateway = (await admin.listGroups()).groups
          .map((g) => g.groupId)
          .filter((id) => id.startsWith(`${prefix}gateway-`));
        const ids = [`${prefix}preprocessor`, `${prefix}inference`, ...gateway];
        const { groups } = await admin.describeGroups(ids);
        return gateway.length === 1 && groups.every((g) => g.members.length > 0) ? ids : undefined;
      },
      { timeoutMs: 60_000, description: 'the three consumer groups to have members' },
    );

    // Ctrl-C: the terminal sends SIGINT to the whole foreground process group.
    process.kill(-run.child.pid!, 'SIGINT');
    await waitFor(() => exitCode !== undefined, { timeoutMs: 60_000, description: 'npm start to exit after SIGINT' });

    const output = run.output();
    for (const app of APPS) {
      expect(output).toContain(`[start] ${app} exited with code 0`);
      expect(output).toMatch(new RegExp(`\\[${app}\\] .*\\[${app}\\] stopped \\(exit code 0\\)`));
    }
    expect(output).toContain(`left consumer group ${prefix}preprocessor`);
    expect(output).toContain(`left consumer group ${prefix}inference`);
    expect(output).toContain(`left consumer group ${prefix}gateway-`);
    expect(output).not.toMatch(/EPIPE|node:events/);

    // Each left its group (no member waiting for a session timeout) ...
    const { groups } = await admin.describeGroups(groupIds);
    expect(groups.map((g) => ({ group: g.groupId, members: g.members.length }))).toEqual(
      groupIds.map((group) => ({ group, members: 0 })),
    );
    // ... and no service is left listening, while Kafka and the registry keep running.
    for (const port of [gatewayPort, preprocessorPort, inferencePort]) {
      await expect(fetch(`http://localhost:${port}/health/live`)).rejects.toThrow();
    }
    await expect(admin.listTopics()).resolves.toContain(env.TOPIC_RAW);
  });
});
