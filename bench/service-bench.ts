// npm run bench:service — part (b) of `npm run bench` (the inference service alone, from a pre-filled
// tokenized topic) under several service settings, interleaved, to choose a setting by measurement.
// BENCH_SERVICE_SETTINGS: settings separated by ';', each a space-separated list of VAR=value
// (default: the batching token cap at 1024, 512 and 256). BENCH_ROUNDS: rounds of every setting (2).
// Prints one JSON line per run.
import { benchTexts } from './bench-texts';
import { BenchPipeline, prepareBench, serviceRun } from './pipeline-bench';

const log = (msg: string) => process.stderr.write(`[bench:service] ${msg}\n`);

function parseSettings(spec: string): Record<string, string>[] {
  return spec.split(';').map((s) =>
    Object.fromEntries(
      s
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    ),
  );
}

const round1 = (x: number) => Math.round(x * 10) / 10;

async function run(env: Record<string, string>, texts: string[], warmTexts: string[]) {
  const p = BenchPipeline.create(env);
  await p.connect();
  try {
    await p.start('inference');
    const r = await serviceRun(p, texts, warmTexts);
    return {
      texts_per_s: round1(r.texts_per_s),
      mean_batch_size: round1(r.mean_batch_size),
      mean_model_run_ms: round1(r.mean_model_run_ms),
      token_efficiency: Math.round(r.token_efficiency * 1000) / 1000,
    };
  } finally {
    await p.stop();
  }
}

async function main(): Promise<void> {
  prepareBench(['inference']);
  const settings = parseSettings(
    process.env.BENCH_SERVICE_SETTINGS ?? 'BATCH_MAX_TOKENS=1024;BATCH_MAX_TOKENS=512;BATCH_MAX_TOKENS=256',
  );
  const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
  const texts = benchTexts(Number(process.env.BENCH_TEXTS ?? 2000));
  for (let round = 1; round <= rounds; round++)
    for (const env of settings) {
      log(`round ${round}: ${JSON.stringify(env)}`);
      process.stdout.write(
        JSON.stringify({ round, settings: env, ...(await run(env, texts, texts.slice(0, 200))) }) + '\n',
      );
    }
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
