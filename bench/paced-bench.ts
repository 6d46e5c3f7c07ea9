// npm run bench:paced — the paced latency runs of `npm run bench` alone, for comparing one setting
// against another in a few minutes rather than a whole bench. The services take their settings from
// this process's environment (COMMIT_INTERVAL_MS=…, ORT_SESSIONS=…, SERVICE_NODE_ARGS=--cpu-prof …).
// BENCH_RATES: comma-separated `<texts/s>x<seconds>` runs, in order (default 4x10,42x30,50x30).
// Prints one JSON line per run and writes nothing else.
import { cpus } from 'node:os';
import { loadConfig } from '@app/config';
import { benchTexts } from './bench-texts';
import { cpuPer1000, mainThreadPer1000 } from './proc-cpu';
import {
  BenchPipeline,
  latencyBreakdown,
  latencyStats,
  metricsBetween,
  modelThreadCount,
  pacedRuns,
  prepareBench,
  producePaced,
  rateOf,
} from './pipeline-bench';

const log = (msg: string) => process.stderr.write(`[bench:paced] ${msg}\n`);

async function main(): Promise<void> {
  prepareBench(['gateway', 'preprocessor', 'inference']);
  const runs = pacedRuns(process.env.BENCH_RATES ?? '4x10,42x30,50x30');
  const config = loadConfig();
  const texts = benchTexts(2000);
  const p = BenchPipeline.create();
  await p.connect();
  const apps = ['preprocessor', 'inference', 'gateway'] as const;
  const cpu = () => p.cpu(...apps);
  const modelThreads = { inference: modelThreadCount(config, cpus().length) };
  try {
    await p.start(...apps);
    log('warm-up: 600 texts at once');
    const warm = await p.produceRaw(texts.slice(0, 600));
    await p.waitAll(warm, 300_000);
    process.stdout.write(
      JSON.stringify({
        burst_texts: 600,
        texts_per_s: Math.round(rateOf(await p.decoded(warm), 'createdAt') * 10) / 10,
      }) + '\n',
    );
    for (const { rate, seconds } of runs) {
      log(`${rate} texts/s for ${seconds} s`);
      const before = cpu();
      const metricsBefore = await p.metrics('inference');
      const run = await producePaced(p, texts, rate, seconds);
      await p.waitAll(run.ids, 300_000);
      const after = cpu();
      const cpuS = cpuPer1000(before, after, run.ids.length, modelThreads);
      const round = (o: Record<string, number>) =>
        Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round(v * 100) / 100]));
      const stats = latencyStats(run.ids, p, run.sentAt);
      const m = metricsBetween(metricsBefore, await p.metrics('inference'));
      process.stdout.write(
        JSON.stringify({
          rate,
          seconds,
          e2e_p50_ms: stats.p50_ms,
          e2e_p99_ms: stats.p99_ms,
          hops_ms: await latencyBreakdown(run.ids, p, run.sentAt),
          mean_batch_size: Math.round(m.mean_batch_size * 100) / 100,
          mean_model_run_ms: Math.round(m.mean_model_run_ms * 10) / 10,
          cpu_s_per_1000: round(cpuS),
          // The broker's JVM does its work off its main thread: only the services' figures mean something.
          main_thread_cpu_s_per_1000: round(mainThreadPer1000(before, after, run.ids.length, apps)),
        }) + '\n',
      );
    }
  } finally {
    await p.stop();
  }
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
