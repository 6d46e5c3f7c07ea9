// npm run bench:paced — the paced latency runs of `npm run bench` alone, for comparing one setting
// against another in a few minutes rather than a whole bench. The services take their settings from
// this process's environment (COMMIT_INTERVAL_MS=…, ORT_SESSIONS=…, SERVICE_NODE_ARGS=--cpu-prof …).
// BENCH_RATES: comma-separated `<texts/s>x<seconds>` runs, in order (default 4x10,42x30,50x30).
// BENCH_BURST: texts produced at once before the runs (default 600; `npm run bench` has 2,000 before its own).
// BENCH_TIMELINE=1: after each run, a table on stderr of every 250 ms: the records sent in it, their
// slowest hops and batch size, and each process's CPU with its busiest thread (what held the cores
// when a run's tail formed). Prints one JSON line per run and writes nothing else.
import { cpus } from 'node:os';
import { loadConfig } from '@app/config';
import { benchTexts } from './bench-texts';
import { CpuBin, CpuTimeline, cpuPer1000, mainThreadPer1000 } from './proc-cpu';
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
const timelineOn = process.env.BENCH_TIMELINE === '1';
const TIMELINE_BIN_MS = 250;

interface PacedRecord {
  sentAt: number;
  toTokenized: number;
  toPredicted: number;
  batchSize: number;
}

async function pacedRecords(p: BenchPipeline, run: { sentAt: Map<string, number> }): Promise<PacedRecord[]> {
  return (await p.decoded([...run.sentAt.keys()])).map((x) => {
    const sentAt = run.sentAt.get(x.id)!;
    return {
      sentAt,
      toTokenized: x.tokenizedAt - sentAt,
      toPredicted: x.predictedAt - x.tokenizedAt,
      batchSize: x.batchSize,
    };
  });
}

/** One line per bin: the records sent in it (slowest hops, mean batch) and each process's cores (busiest thread). */
function printTimeline(bins: CpuBin[], startedAt: number, records: PacedRecord[]): void {
  const max = (xs: number[]) => (xs.length ? String(Math.max(...xs)) : '-');
  for (const bin of bins) {
    const inBin = records.filter((r) => r.sentAt >= bin.start && r.sentAt < bin.end);
    const batch = inBin.length ? (inBin.reduce((s, r) => s + r.batchSize, 0) / inBin.length).toFixed(1) : '-';
    const cpu = Object.entries(bin.processes)
      .map(([name, c]) => `${name} ${c.cores.toFixed(2)} (${c.busiest || '-'} ${c.busiestCores.toFixed(2)})`)
      .join(' | ');
    log(
      `${String(bin.start - startedAt).padStart(6)} ms  sent ${String(inBin.length).padStart(3)}  to_tokenized max ${max(inBin.map((r) => r.toTokenized)).padStart(4)}` +
        `  to_predicted max ${max(inBin.map((r) => r.toPredicted)).padStart(5)}  batch ${batch.padStart(4)}  cores: ${cpu}`,
    );
  }
}

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
    const burst = Number(process.env.BENCH_BURST ?? 600);
    log(`warm-up: ${burst} texts at once`);
    const warm = await p.produceRaw(Array.from({ length: burst }, (_, i) => texts[i % texts.length]));
    await p.waitAll(warm, 600_000);
    process.stdout.write(
      JSON.stringify({
        burst_texts: burst,
        texts_per_s: Math.round(rateOf(await p.decoded(warm), 'createdAt') * 10) / 10,
      }) + '\n',
    );
    for (const { rate, seconds } of runs) {
      log(`${rate} texts/s for ${seconds} s`);
      const before = cpu();
      const metricsBefore = await p.metrics('inference');
      const timeline = timelineOn ? new CpuTimeline(p.pids(...apps), TIMELINE_BIN_MS) : undefined;
      const startedAt = Date.now();
      const run = await producePaced(p, texts, rate, seconds);
      await p.waitAll(run.ids, 300_000);
      const after = cpu();
      if (timeline) printTimeline(timeline.stop(), startedAt, await pacedRecords(p, run));
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
