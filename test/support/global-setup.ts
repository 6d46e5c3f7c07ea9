import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const INFRA = resolve(__dirname, '../../infra/infra.sh');
/** Set by the first setup that had to start Kafka and the registry; read by globalTeardown. */
export const STARTED_FLAG = 'KTC_TESTS_STARTED_INFRA';

// Integration and e2e tests run against the real Kafka and registry. If they are not running, the
// tests start them and stop them at the end (global-teardown.ts); if they already run (npm start,
// npm run infra:up, or your own with INFRA_EXTERNAL=1), the tests use them and leave them running.
export default function globalSetup(): void {
  if (process.env.INFRA_EXTERNAL === '1') return;
  const running = spawnSync('bash', [INFRA, 'status'], { stdio: 'ignore' }).status === 0;
  if (running) return;
  const up = spawnSync('bash', [INFRA, 'up'], { stdio: 'inherit' });
  if (up.status !== 0) throw new Error(`infra/infra.sh up failed (exit code ${up.status})`);
  process.env[STARTED_FLAG] = '1';
}
