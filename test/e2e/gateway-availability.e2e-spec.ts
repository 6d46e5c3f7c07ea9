import {
  freePort,
  isolatedEnv,
  postJson,
  RunningService,
  startService,
  stopService,
  waitFor,
  waitReady,
} from '@app/testing';

describe('gateway when its dependencies are missing', () => {
  const started: RunningService[] = [];

  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => stopService(s)));
  });

  async function startGateway(env: Record<string, string>): Promise<RunningService> {
    const gateway = await startService('gateway', env);
    started.push(gateway);
    await waitFor(async () => (await fetch(`${gateway.url}/health/live`).catch(() => undefined))?.status === 200, {
      timeoutMs: 60_000,
      description: 'gateway alive',
    });
    return gateway;
  }

  it('answers 503 and is not ready while Kafka is unreachable', async () => {
    const gateway = await startGateway(isolatedEnv({ KAFKA_BROKERS: `localhost:${await freePort()}` }));
    const ready = await fetch(`${gateway.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: Record<string, string> }).checks.kafka).toBe('down');
    const res = await postJson(`${gateway.url}/predict`, { text: 'hello' });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ error: 'unavailable' });
    expect(res.body.message).toMatch(/Kafka/);
  });

  it('answers 503 and is not ready while the schema registry is unreachable', async () => {
    const gateway = await startGateway(
      isolatedEnv({ SCHEMA_REGISTRY_URL: `http://localhost:${await freePort()}/apis/ccompat/v7` }),
    );
    // Kafka is fine here: wait until the gateway knows it, so that only the registry is missing.
    const checks = await waitFor(
      async () => {
        const ready = await fetch(`${gateway.url}/health/ready`);
        expect(ready.status).toBe(503);
        const body = (await ready.json()) as { checks: Record<string, string> };
        return body.checks.kafka === 'up' ? body.checks : undefined;
      },
      { timeoutMs: 30_000, description: 'gateway connected to Kafka' },
    );
    expect(checks.registry).toBe('down');
    expect(checks.schemas).toBe('down');
    const res = await postJson(`${gateway.url}/v1/predict`, { texts: ['hello'] });
    expect(res.status).toBe(503);
    expect(res.body.message).toMatch(/registry/);
  });

  it('answers 504 when no prediction arrives within PREDICT_TIMEOUT_MS', async () => {
    // A gateway alone: nothing turns its raw records into predictions.
    const gateway = await startGateway(isolatedEnv({ PREDICT_TIMEOUT_MS: '1500' }));
    await waitReady(gateway);
    const started = Date.now();
    const res = await postJson(`${gateway.url}/predict`, { text: 'will never be answered' });
    expect(res.status).toBe(504);
    expect(res.body).toMatchObject({ error: 'timeout' });
    expect(res.body.message).toMatch(/PREDICT_TIMEOUT_MS/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
  });
});
