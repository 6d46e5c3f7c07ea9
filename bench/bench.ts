// npm run bench — a benchmark, never part of the tests. Starts what it needs (infra, services on
// isolated topics), measures (a)–(e) of the README's "Benchmark" section plus the overload run, and
// writes bench/results/<timestamp>.{json,md,svg}. BENCH_QUICK=1 shrinks every run for a smoke check.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename, join } from 'node:path';
import { loadConfig, projectRoot } from '@app/config';
import { waitFor } from '@app/testing';
import { benchTexts, percentile } from './bench-texts';
import { bareMarkdown, BareCeiling, measureBareCeiling } from './bare-ceiling';
import { CeilingPoint, measureCeiling } from './ceiling';
import { BenchMachine, describeMachine, machineLine } from './machine';
import { cpuPer1000 } from './proc-cpu';
import {
  BenchPipeline,
  httpLoad,
  latencyBreakdown,
  latencyStats,
  modelThreadCount,
  meanBatchSize,
  metricsBetween,
  producePaced,
  rateOf,
  rssMb,
  serviceRun,
  visibleRateOf,
} from './pipeline-bench';
import { ensureBenchVenv } from './python-venv';
import { ceilingPlot } from './svg-plot';

const quick = process.env.BENCH_QUICK === '1';
const N = quick ? 300 : 2000;
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

async function main(): Promise<void> {
  const root = projectRoot();
  if (process.env.INFRA_EXTERNAL !== '1')
    execFileSync('bash', [join(root, 'infra/infra.sh'), 'up'], { stdio: 'inherit' });
  log('building the services');
  for (const app of ['gateway', 'preprocessor', 'inference'])
    execFileSync('npx', ['nest', 'build', app], { cwd: root, stdio: 'inherit' });

  const config = loadConfig();
  const texts = benchTexts(N);
  // Through the services before each timed part (BenchPipeline.warmUp), as the ceiling runs each session once first.
  const warmTexts = texts.slice(0, quick ? 32 : 200);
  const results: Record<string, unknown> = {
    started_at: new Date().toISOString(),
    machine: describeMachine(),
    model_dir: config.model.dir,
    batch: config.batch,
    inference: config.inference,
    texts: N,
  };

  // Both ways of using the cores: one session with every intra-op thread, and the service's
  // default on a multi-core CPU (ORT_SESSIONS auto: two sessions side by side). The best is the ceiling.
  log('(a) ceiling: onnxruntime-node alone');
  const sizes = quick ? [1, 8, 32] : [1, 2, 4, 8, 16, 32, 64, 128, 256];
  const ceilingTexts = texts.slice(0, quick ? 128 : 512);
  const rounds = quick ? 1 : 3;
  const ceiling = [
    ...(await measureCeiling(config, ceilingTexts, sizes, { sessions: 1, rounds })),
    ...(await measureCeiling(config, ceilingTexts, sizes, { sessions: 2, rounds })),
  ];
  const best = ceiling.reduce((a, b) => (b.texts_per_s > a.texts_per_s ? b : a));
  results.ceiling = ceiling;
  results.ceiling_texts_per_s = best.texts_per_s;
  results.ceiling_best_batch_size = best.batch_size;
  results.ceiling_best_sessions = best.sessions;

  // The bare ceiling: the runtimes called directly, no project code, on the service's batches and layout.
  log('(a) bare ceiling: onnxruntime-node and Python onnxruntime alone, and OnnxClassifier, on the same batches');
  let python: string | undefined;
  try {
    python = ensureBenchVenv(log);
  } catch (error) {
    log(`no Python venv (${(error as Error).message.split('\n')[0]}): the bare ceiling runs Node alone`);
  }
  results.bare_ceiling = await measureBareCeiling(config, texts, { rounds, python, log });

  log('(b) inference service alone, from a pre-filled tokenized topic');
  {
    const p = BenchPipeline.create();
    await p.connect();
    await p.start('inference');
    const run = await serviceRun(p, texts, warmTexts);
    results.service_texts_per_s = run.texts_per_s;
    // From the service's own /metrics: what an operator's dashboard shows.
    results.token_efficiency = run.token_efficiency;
    results.service_mean_batch_size = run.mean_batch_size;
    results.service_mean_model_run_ms = run.mean_model_run_ms;
    await p.stop();
  }

  log('(c) whole pipeline: raw in, predictions out');
  const p = BenchPipeline.create();
  await p.connect();
  // CPU seconds per process (the stages and the broker), for the figures per 1,000 texts outside the model.
  const cpu = (...apps: string[]) => p.cpu(...apps);
  // The inference service's model threads: one per intra-op thread of each session (README, ORT_SESSIONS).
  const modelThreads = { inference: modelThreadCount(config, cpus().length) };
  // The gateway is not part of (c): it joins for (e) only, so its predictions listener does not share the CPU before.
  await p.start('preprocessor', 'inference');
  await p.warmUp(warmTexts);
  {
    // Idle: what the waiting consumers cost (their fetch polls), before any record arrives.
    const idleSeconds = quick ? 5 : 15;
    const idleBefore = cpu('preprocessor', 'inference');
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const idleAfter = cpu('preprocessor', 'inference');
    results.idle_cpu_percent = Object.fromEntries(
      Object.keys(idleAfter).map((k) => [k, (100 * (idleAfter[k].total - idleBefore[k].total)) / idleSeconds]),
    );
    const before = await p.metrics('inference');
    const cpuBefore = cpu('preprocessor', 'inference');
    const ids = await p.produceRaw(texts);
    await p.waitAll(ids, 600_000);
    results.pipeline_cpu_s_per_1000 = cpuPer1000(cpuBefore, cpu('preprocessor', 'inference'), ids.length, modelThreads);
    const preds = await p.decoded(ids);
    results.pipeline_texts_per_s = rateOf(preds, 'createdAt');
    results.pipeline_mean_batch_size = meanBatchSize(preds);
    const m = metricsBetween(before, await p.metrics('inference'));
    results.pipeline_token_efficiency = m.token_efficiency;
    results.pipeline_metrics_mean_batch_size = m.mean_batch_size;
  }
  const c = results.pipeline_texts_per_s as number;

  log('(c-eos) the same pipeline in exactly-once mode (DELIVERY=exactly-once)');
  {
    const pe = BenchPipeline.create({ DELIVERY: 'exactly-once' });
    await pe.connect();
    await pe.start('preprocessor', 'inference');
    await pe.warmUp(warmTexts);
    const ids = await pe.produceRaw(texts);
    await pe.waitAll(ids, 600_000);
    const preds = await pe.decoded(ids);
    results.pipeline_eos_texts_per_s = rateOf(preds, 'createdAt');
    // As a read_committed consumer sees it: outputs become visible when their transaction commits.
    results.pipeline_eos_visible_texts_per_s = visibleRateOf(ids, pe, preds);
    await pe.stop();
  }

  log('(d) the same pipeline with BATCH_MAX_SIZE=1');
  {
    const p1 = BenchPipeline.create({ BATCH_MAX_SIZE: '1' });
    await p1.connect();
    await p1.start('preprocessor', 'inference');
    await p1.warmUp(warmTexts);
    const ids = await p1.produceRaw(texts.slice(0, quick ? 100 : 600));
    await p1.waitAll(ids, 600_000);
    results.pipeline_batch1_texts_per_s = rateOf(await p1.decoded(ids), 'createdAt');
    await p1.stop();
  }

  log('(e) sync HTTP /predict, 32 clients');
  await p.start('gateway');
  {
    const httpCpu = cpu('gateway', 'preprocessor', 'inference');
    const load = await httpLoad(p.service('gateway').url, texts.slice(0, quick ? 96 : 640), 32);
    results.http_cpu_s_per_1000 = cpuPer1000(
      httpCpu,
      cpu('gateway', 'preprocessor', 'inference'),
      load.latencies.length,
      modelThreads,
    );
    Object.assign(results, {
      http_concurrency: 32,
      http_requests: load.latencies.length,
      http_errors: load.errors,
      http_texts_per_s: load.latencies.length / load.seconds,
      p50_ms: percentile(load.latencies, 50),
      p95_ms: percentile(load.latencies, 95),
      p99_ms: percentile(load.latencies, 99),
    });
  }

  log('latency at light load (4 texts/s), at 50% and at 60% of (c)');
  {
    // Texts sent onto raw at `rate` for `seconds`: latency send → prediction, and CPU per 1,000 texts outside the model.
    const paced = async (rate: number, seconds: number) => {
      const before = cpu('preprocessor', 'inference', 'gateway');
      const run = await producePaced(p, texts, rate, seconds);
      await p.waitAll(run.ids, 300_000);
      const cpuS = cpuPer1000(before, cpu('preprocessor', 'inference', 'gateway'), run.ids.length, modelThreads);
      return {
        stats: latencyStats(run.ids, p, run.sentAt),
        hops: await latencyBreakdown(run.ids, p, run.sentAt),
        cpuS,
      };
    };
    const light = await paced(4, quick ? 5 : 10);
    const beforeHalf = await p.metrics('inference');
    const half = await paced(c / 2, quick ? 8 : 30);
    // The same figure from pipeline_end_to_end_seconds (bucketed, so coarser than the exact one).
    const halfMetrics = metricsBetween(beforeHalf, await p.metrics('inference'));
    const sixty = await paced(0.6 * c, quick ? 8 : 30);
    Object.assign(results, {
      light_load_e2e_p50_ms: light.stats.p50_ms,
      light_load_e2e_p99_ms: light.stats.p99_ms,
      light_load_cpu_s_per_1000: light.cpuS,
      light_load_hops_ms: light.hops,
      half_load_rate_texts_per_s: c / 2,
      half_load_e2e_p50_ms: half.stats.p50_ms,
      half_load_e2e_p99_ms: half.stats.p99_ms,
      half_load_metrics_e2e_p50_ms: halfMetrics.e2e_p50_ms,
      half_load_metrics_e2e_p99_ms: halfMetrics.e2e_p99_ms,
      half_load_cpu_s_per_1000: half.cpuS,
      half_load_hops_ms: half.hops,
      sixty_load_rate_texts_per_s: 0.6 * c,
      sixty_load_e2e_p50_ms: sixty.stats.p50_ms,
      sixty_load_e2e_p99_ms: sixty.stats.p99_ms,
      sixty_load_cpu_s_per_1000: sixty.cpuS,
      sixty_load_hops_ms: sixty.hops,
    });
  }

  const overloadSeconds = quick ? 10 : Number(process.env.BENCH_OVERLOAD_S ?? 60);
  log(`overload: 3 × (c) for ${overloadSeconds} s, inference RSS sampled every second`);
  {
    const pid = p.service('inference').process.pid!;
    const samples: number[] = [rssMb(pid)];
    const sampler = setInterval(() => samples.push(rssMb(pid)), 1000);
    const over = await producePaced(p, texts, 3 * c, overloadSeconds);
    await waitFor(() => over.ids.every((id) => p.received.has(id)), {
      timeoutMs: 60 * 60_000,
      intervalMs: 1000,
      description: 'overload backlog drained',
    });
    clearInterval(sampler);
    const lost = over.ids.filter((id) => !p.received.has(id)).length;
    Object.assign(results, {
      overload_rate_texts_per_s: 3 * c,
      overload_texts: over.ids.length,
      overload_lost: lost,
      overload_rss_mb: Math.max(...samples),
      overload_rss_start_mb: samples[0],
    });
  }
  await p.stop();

  const ratio = (a: string, b: string) => (results[a] as number) / (results[b] as number);
  results.targets = {
    'service ≥ 85% of ceiling': {
      value: ratio('service_texts_per_s', 'ceiling_texts_per_s'),
      met: ratio('service_texts_per_s', 'ceiling_texts_per_s') >= 0.85,
    },
    'pipeline ≥ 75% of ceiling': {
      value: ratio('pipeline_texts_per_s', 'ceiling_texts_per_s'),
      met: ratio('pipeline_texts_per_s', 'ceiling_texts_per_s') >= 0.75,
    },
    'pipeline ≥ 4 × batch-1 pipeline': {
      value: ratio('pipeline_texts_per_s', 'pipeline_batch1_texts_per_s'),
      met: ratio('pipeline_texts_per_s', 'pipeline_batch1_texts_per_s') >= 4,
    },
    'token efficiency ≥ 0.8': { value: results.token_efficiency, met: (results.token_efficiency as number) >= 0.8 },
    'p99 at 50% load ≤ 3 × light-load p50': {
      value: ratio('half_load_e2e_p99_ms', 'light_load_e2e_p50_ms'),
      met: ratio('half_load_e2e_p99_ms', 'light_load_e2e_p50_ms') <= 3,
    },
    'service ≥ 95% of ceiling': {
      value: ratio('service_texts_per_s', 'ceiling_texts_per_s'),
      met: ratio('service_texts_per_s', 'ceiling_texts_per_s') >= 0.95,
    },
    'pipeline ≥ 90% of ceiling': {
      value: ratio('pipeline_texts_per_s', 'ceiling_texts_per_s'),
      met: ratio('pipeline_texts_per_s', 'ceiling_texts_per_s') >= 0.9,
    },
    'light-load e2e p50 ≤ 25 ms': {
      value: results.light_load_e2e_p50_ms,
      met: (results.light_load_e2e_p50_ms as number) <= 25,
    },
    'light-load e2e p99 ≤ 50 ms': {
      value: results.light_load_e2e_p99_ms,
      met: (results.light_load_e2e_p99_ms as number) <= 50,
    },
    'p99 at 50% load ≤ 2 × light-load p50': {
      value: ratio('half_load_e2e_p99_ms', 'light_load_e2e_p50_ms'),
      met: ratio('half_load_e2e_p99_ms', 'light_load_e2e_p50_ms') <= 2,
    },
    'p99 at 60% load (paced 30 s) ≤ 100 ms': {
      value: results.sixty_load_e2e_p99_ms,
      met: (results.sixty_load_e2e_p99_ms as number) <= 100,
    },
    'CPU-s per 1,000 texts outside the model (stages + broker) ≤ 4 at 50% load': {
      value: (results.half_load_cpu_s_per_1000 as Record<string, number>).total,
      met: (results.half_load_cpu_s_per_1000 as Record<string, number>).total <= 4,
    },
    'CPU-s per 1,000 texts outside the model (stages + broker) ≤ 1.5 in bulk': {
      value: (results.pipeline_cpu_s_per_1000 as Record<string, number>).total,
      met: (results.pipeline_cpu_s_per_1000 as Record<string, number>).total <= 1.5,
    },
    'service ≥ 0.97 × bare ceiling (the better of onnxruntime-node and Python onnxruntime)': {
      value: (results.service_texts_per_s as number) / (results.bare_ceiling as BareCeiling).best_texts_per_s,
      met: (results.service_texts_per_s as number) / (results.bare_ceiling as BareCeiling).best_texts_per_s >= 0.97,
    },
    'overload RSS < 1.5 GB, nothing lost': {
      value: results.overload_rss_mb,
      met: (results.overload_rss_mb as number) < 1536 && results.overload_lost === 0,
    },
  };

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${stamp}.json`), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(
    join(dir, `${stamp}.svg`),
    ceilingPlot(
      ceiling,
      `${basename(config.model.dir)}: onnxruntime-node ceiling (${config.inference.device}), ${cpus().length} cores`,
      [
        { label: 'inference service', texts_per_s: results.service_texts_per_s as number },
        { label: 'whole pipeline', texts_per_s: results.pipeline_texts_per_s as number },
      ],
    ),
  );
  const md = markdown(results as BenchReport, ceiling);
  writeFileSync(join(dir, `${stamp}.md`), md);
  process.stdout.write(md);
  log(`wrote bench/results/${stamp}.{json,md,svg}`);
}

/** The figures of a run, as written to bench/results/<stamp>.json. */
interface BenchReport {
  [figure: string]: unknown;
  started_at: string;
  texts: number;
  machine: BenchMachine;
  batch: unknown;
}

function markdown(r: BenchReport, ceiling: CeilingPoint[]): string {
  const f = (v: unknown, d = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : String(v));
  const lines = [
    `# Benchmark ${r.started_at}`,
    '',
    `${r.texts} mixed-length texts; ${machineLine(r.machine)}; batch caps ${JSON.stringify(r.batch)}`,
    '',
    '| sessions | batch size | texts/s | p50 batch ms | p99 batch ms |',
    '| ---: | ---: | ---: | ---: | ---: |',
    ...ceiling.map(
      (c) => `| ${c.sessions} | ${c.batch_size} | ${f(c.texts_per_s)} | ${f(c.p50_batch_ms)} | ${f(c.p99_batch_ms)} |`,
    ),
    '',
    ...bareMarkdown(r.bare_ceiling as BareCeiling),
    '',
    '| figure | value |',
    '| --- | ---: |',
    ...[
      'ceiling_texts_per_s',
      'service_texts_per_s',
      'pipeline_texts_per_s',
      'pipeline_eos_texts_per_s',
      'pipeline_eos_visible_texts_per_s',
      'pipeline_batch1_texts_per_s',
      'token_efficiency',
      'pipeline_token_efficiency',
      'service_mean_batch_size',
      'pipeline_mean_batch_size',
      'p50_ms',
      'p95_ms',
      'p99_ms',
      'http_texts_per_s',
      'http_errors',
      'light_load_e2e_p50_ms',
      'light_load_e2e_p99_ms',
      'half_load_e2e_p50_ms',
      'half_load_e2e_p99_ms',
      'sixty_load_rate_texts_per_s',
      'sixty_load_e2e_p50_ms',
      'sixty_load_e2e_p99_ms',
      'overload_texts',
      'overload_lost',
      'overload_rss_mb',
    ].map((k) => `| ${k} | ${f(r[k], k.includes('efficiency') ? 3 : 1)} |`),
    ...[
      'idle_cpu_percent',
      'pipeline_cpu_s_per_1000',
      'http_cpu_s_per_1000',
      'light_load_cpu_s_per_1000',
      'half_load_cpu_s_per_1000',
      'sixty_load_cpu_s_per_1000',
      'light_load_hops_ms',
      'half_load_hops_ms',
      'sixty_load_hops_ms',
    ].map(
      (k) =>
        `| ${k} | ${Object.entries((r[k] ?? {}) as Record<string, number>)
          .map(([name, v]) => `${name} ${f(v, 2)}`)
          .join(', ')} |`,
    ),
    '',
    '| target | value | met |',
    '| --- | ---: | :---: |',
    ...Object.entries(r.targets as Record<string, { value: number; met: boolean }>).map(
      ([k, v]) => `| ${k} | ${f(v.value, 3)} | ${v.met ? 'yes' : 'no'} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`[bench] failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
