import type { ChildProcess } from 'node:child_process';
import { RunningService, waitReady } from './service-process';

describe('waitReady', () => {
  it('fails at once, naming the exit code, when the service exits before it is ready', async () => {
    const service: RunningService = {
      app: 'gateway',
      port: 1,
      process: {} as ChildProcess,
      url: 'http://127.0.0.1:1',
      exited: Promise.resolve(1),
    };
    const started = Date.now();
    await expect(waitReady(service, 60_000)).rejects.toThrow('gateway exited with 1');
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
