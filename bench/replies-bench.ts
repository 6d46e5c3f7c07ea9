// npm run bench:replies — a benchmark, never part of the tests. Sync /predict through 1, 2 and 4
// gateways in front of one preprocessor and one inference service: throughput, and the bytes each
// gateway's reply listener fetched per prediction (gateway_reply_fetched_{records,bytes}_total).
// Infra must be up (npm run infra:up); the services are built first. Writes bench/results/replies-<ts>.json.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '@app/config';
import { parsePromText, sumOf } from '@app/observability';
import { isolatedEnv, RunningService, startService, stopService, waitReady } from '@app/testing';
import { benchTexts } from './bench-texts';
import { httpLoad } from './pipeline-bench';

const log = (msg: string) => process.stderr.write(`[bench:replies] ${msg}\n`);
const gatewayCounts = (process.env.REPLIES_BENCH_GATEWAYS ?? '1,2,4').split(',').map(Number);
const TEXTS = Number(process.env.REPLIES_BENCH_TEXTS ?? 800);
const CONCURRENCY = Number(process.env.REPLIES_BENCH_CONCURRENCY ?? 32);

async function scrape(gateway: RunningService) {
  const samples = parsePromText(await (await fetch(`${gateway.url}/metrics`)).text());
  return {
    records: sumOf(samples, 'gateway_reply_fetched_records_total'),
    bytes: sumOf(samples, 'gateway_reply_fetched_bytes_total'),
  };
}

async function run(gateways: number) {
  const env = isolatedEnv({ REPLY_PARTITIONS: '8', PREDICT_TIMEOUT_MS: '60000' });
  const services = await Promise.all([
    startService('preprocessor', env),
    startService('inference', env),
    ...Array.from({ length: gateways }, (_, i) =>
      startService('gateway', { ...env, GATEWAY_REPLY_PARTITION: String(i) }),
    ),
  ]);
  try {
    await Promise.all(services.map((s) => waitReady(s, 180_000)));
    const front = services.slice(2);
    // Warm-up: every gateway answers a few, so the model and every listener are past their first run.
    await Promise.all(front.map((g) => httpLoad(g.url, benchTexts(16, 7), 4)));
    const before = await Promise.all(front.map(scrape));
    // The same total concurrency whatever the number of gateways, spread evenly over them.
    const texts = benchTexts(TEXTS);
    const loads = await Promise.all(
      front.map((g, i) =>
        httpLoad(
          g.url,
          texts.filter((_, j) => j % gateways === i),
          CONCURRENCY / gateways,
        ),
      ),
    );
    const after = await Promise.all(front.map(scrape));
    const answered = loads.reduce((n, l) => n + l.latencies.length, 0);
    const errors = loads.reduce((n, l) => n + l.errors, 0);
    const seconds = Math.max(...loads.map((l) => l.seconds));
    const perGateway = front.map((_, i) => ({
      fetched_records: after[i].records - before[i].records,
      fetched_bytes: after[i].bytes - before[i].bytes,
      answered: loads[i].latencies.length,
    }));
    const fetchedBytes = perGateway.reduce((n, g) => n + g.fetched_bytes, 0);
    const result = {
      gateways,
      answered,
      errors,
      seconds,
      predict_per_s: answered / seconds,
      // Of all the predictions the system made in the run: what one gateway fetched for each, on average.
      bytes_fetched_per_gateway_per_prediction: fetchedBytes / gateways / answered,
      bytes_fetched_all_gateways_per_prediction: fetchedBytes / answered,
      records_fetched_per_gateway_per_prediction:
        perGateway.reduce((n, g) => n + g.fetched_records, 0) / gateways / answered,
      per_gateway: perGateway,
    };
    log(JSON.stringify(result));
    return result;
  } finally {
    await Promise.all(services.map((s) => stopService(s)));
  }
}

async function main(): Promise<void> {
  const root = projectRoot();
  if (process.env.REPLIES_BENCH_SKIP_BUILD !== '1')
    for (const app of ['gateway', 'preprocessor', 'inference'])
      execFileSync('npx', ['nest', 'build', app], { cwd: root, stdio: 'inherit' });
  const runs = [];
  for (const n of gatewayCounts) runs.push(await run(n));
  const out = join(root, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const file = join(out, `replies-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify({ texts: TEXTS, concurrency: CONCURRENCY, model_dir: process.env.MODEL_DIR, runs }, null, 2),
  );
  log(`wrote ${file}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    log(String((error as Error).stack ?? error));
    process.exit(1);
  },
);
