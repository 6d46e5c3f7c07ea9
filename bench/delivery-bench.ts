// npx ts-node -r tsconfig-paths/register --transpile-only bench/delivery-bench.ts
// The cost of exactly-once delivery: the pipeline (preprocessor + inference) in at-least-once mode
// and in exactly-once mode at several COMMIT_INTERVAL_MS (transaction size against latency).
// Assumes Kafka and the registry are running and the services are built (npm run bench does both).
// BENCH_QUICK=1: 300 texts per run; BENCH_EOS_INTERVALS: the intervals to try (default 0,100,500).
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '@app/config';
import { benchTexts } from './bench-texts';
import { measurePipeline } from './pipeline-bench';

const quick = process.env.BENCH_QUICK === '1';
const N = quick ? 300 : 2000;
const intervals = (process.env.BENCH_EOS_INTERVALS ?? '0,100,500').split(',').map((s) => s.trim());
const paced = { ratePerS: Number(process.env.BENCH_PACED_RATE ?? 20), seconds: quick ? 8 : 15 };

async function main(): Promise<void> {
  const texts = benchTexts(N);
  const rows: Record<string, unknown>[] = [];
  const run = async (label: string, env: Record<string, string>) => {
    process.stderr.write(`[bench] ${label}\n`);
    const row = { run: label, ...(await measurePipeline(texts, env, paced)) };
    rows.push(row);
    process.stderr.write(`[bench] ${JSON.stringify(row)}\n`);
  };
  await run('at-least-once', { DELIVERY: 'at-least-once', METRICS_LAG_INTERVAL_MS: '0' });
  for (const interval of intervals)
    await run(`exactly-once, COMMIT_INTERVAL_MS=${interval}`, {
      DELIVERY: 'exactly-once',
      COMMIT_INTERVAL_MS: interval,
      METRICS_LAG_INTERVAL_MS: '0',
    });
  const dir = join(projectRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `delivery-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ texts: N, paced, rows }, null, 2));
  process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`[bench] failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
