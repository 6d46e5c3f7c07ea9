import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

// Integration and e2e tests run against the real Kafka and registry; start them unless
// the user points the tests at their own (KAFKA_BROKERS / SCHEMA_REGISTRY_URL set and INFRA_EXTERNAL=1).
export default function globalSetup(): void {
  if (process.env.INFRA_EXTERNAL === '1') return;
  execFileSync('bash', [resolve(__dirname, '../../infra/infra.sh'), 'up'], { stdio: 'inherit' });
}
