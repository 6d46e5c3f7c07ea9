import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { STARTED_FLAG } from './global-setup';

// Leaves things as the tests found them, and says so: stops Kafka and the registry if the tests
// started them (KEEP_INFRA=1 keeps them for the next run), else leaves them running.
export default function globalTeardown(): void {
  if (process.env.INFRA_EXTERNAL === '1') return;
  const started = process.env[STARTED_FLAG] === '1';
  delete process.env[STARTED_FLAG]; // one teardown per project: report once
  if (started && process.env.KEEP_INFRA !== '1') {
    console.log('\n[npm test] stopping the Kafka and schema registry it started (KEEP_INFRA=1 keeps them running)');
    spawnSync('bash', [resolve(__dirname, '../../infra/infra.sh'), 'down'], { stdio: 'inherit' });
  } else if (started) {
    console.log(
      '\n[npm test] Kafka and the schema registry keep running (KEEP_INFRA=1); npm run infra:down stops them',
    );
  } else if (process.env.KTC_TESTS_REPORTED !== '1') {
    process.env.KTC_TESTS_REPORTED = '1';
    console.log(
      '\n[npm test] Kafka and the schema registry were already running and keep running; npm run infra:down stops them',
    );
  }
}
