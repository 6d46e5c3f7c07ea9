// npm run bench:python — this project's pipeline (preprocessor + inference) against the single-process
// Python consumer (bench/python-baseline/consumer.py) on this machine: the same Kafka, registry, model,
// micro-batching caps and texts, each on fresh topics, interleaved over BENCH_ROUNDS rounds (3).
// Per run: a warm-up of 200 texts, a burst of BENCH_TEXTS (2,000) produced at once (texts/s from the
// records' own timestamps, as part (c) of `npm run bench`), then the paced runs of BENCH_RATES
// (`<texts/s>x<seconds>`, default 4x10,30x30,50x30: send → received p50/p99). CPU-s per 1,000 texts of
// the system's processes (all threads, the model's included) and of the broker, from /proc.
// The Python packages go into .venv-bench (bench/python-baseline/requirements.txt) on first use.
// Writes bench/results/python-<timestamp>.{json,md}.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '@app/config';
import { RunningService, stopService } from '@app/testing';
import { percentile, benchTexts } from './bench-texts';
import { BenchPipeline, latencyStats, pacedRuns, prepareBench, producePaced, rateOf } from './pipeline-bench';
import { CpuReading, readCpu } from './proc-cpu';
import { ensureBenchVenv } from './python-venv';

const log = (msg: string) => process.stderr.write(`[bench:python] ${msg}\n`);
const root = projectRoot();

type System = 'project' | 'python';

type PythonProcess = Pick<RunningService, 'process' | 'exited'>;

/** Starts the Python consumer on this pipeline's topics; resolves once it has loaded the model. */
async function startPython(python: string, p: BenchPipeline): Promise<PythonProcess> {
  const child = spawn(python, [join(root, 'bench/python-baseline/consumer.py')], {
    cwd: root,
    env: { ...process.env, ...p.env, MODEL_DIR: p.config.model.dir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
    void exited.then((code) => reject(new Error(`python baseline exited with ${code}`)));
  });
  return { process: child, exited };
}

interface CpuFigures {
  /** The system's processes, every thread (the model's included). */
  system_cpu_s_per_1000: number;
  broker_cpu_s_per_1000: number;
}

interface PacedFigures extends CpuFigures {
  rate: number;
  p50_ms: number;
  p99_ms: number;
}

interface RunFigures extends CpuFigures {
  system: System;
  burst_texts_per_s: number;
  paced: PacedFigures[];
  /** The burst's labels in text order, to check that both systems classify alike. */
  labels: string[];
}

const sumCpu = (before: Record<string, CpuReading>, after: Record<string, CpuReading>, names: string[]) =>
  names.reduce((s, n) => s + after[n].total - before[n].total, 0);

async function run(
  system: System,
  python: string,
  texts: string[],
  rates: { rate: number; seconds: number }[],
): Promise<RunFigures> {
  const p = BenchPipeline.create();
  await p.connect();
  let child: PythonProcess | undefined;
  const procs: string[] = system === 'project' ? ['preprocessor', 'inference'] : ['python'];
  const cpu = (): Record<string, CpuReading> =>
    system === 'project'
      ? p.cpu('preprocessor', 'inference')
      : { python: readCpu(child!.process.pid!), broker: p.cpu().broker };
  const per1000 = (b: Record<string, CpuReading>, a: Record<string, CpuReading>, n: number): CpuFigures => ({
    system_cpu_s_per_1000: Math.round(((1000 * sumCpu(b, a, procs)) / n) * 100) / 100,
    broker_cpu_s_per_1000: Math.round(((1000 * sumCpu(b, a, ['broker'])) / n) * 100) / 100,
  });
  try {
    if (system === 'project') await p.start('preprocessor', 'inference');
    else child = await startPython(python, p);
    await p.waitAll(await p.produceRaw(texts.slice(0, 200)), 300_000);
    const before = cpu();
    const ids = await p.produceRaw(texts);
    await p.waitAll(ids, 600_000);
    const predictions = await p.decoded(ids);
    const labelOf = new Map(predictions.map((x) => [x.id, x.label]));
    const burst = per1000(before, cpu(), ids.length);
    const paced: PacedFigures[] = [];
    for (const { rate, seconds } of rates) {
      const b = cpu();
      const run = await producePaced(p, texts, rate, seconds);
      await p.waitAll(run.ids, 300_000);
      const latency = latencyStats(run.ids, p, run.sentAt);
      paced.push({ rate, p50_ms: latency.p50_ms, p99_ms: latency.p99_ms, ...per1000(b, cpu(), run.ids.length) });
    }
    return {
      system,
      burst_texts_per_s: Math.round(rateOf(predictions, 'createdAt') * 10) / 10,
      ...burst,
      paced,
      labels: ids.map((id) => labelOf.get(id) ?? ''),
    };
  } finally {
    if (child) await stopService(child);
    await p.stop();
  }
}

function median(xs: number[]): number {
  return percentile(xs, 50);
}

async function main(): Promise<void> {
  const python = ensureBenchVenv(log);
  prepareBench(['preprocessor', 'inference']);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const texts = benchTexts(Number(process.env.BENCH_TEXTS ?? 2000));
  const rates = pacedRuns(process.env.BENCH_RATES ?? '4x10,30x30,50x30');
  const results: (RunFigures & { round: number })[] = [];
  for (let round = 1; round <= rounds; round++) {
    // Alternate who goes first: the broker's state (log segments, page cache) drifts over a session.
    const order: System[] = round % 2 === 1 ? ['project', 'python'] : ['python', 'project'];
    for (const system of order) {
      log(`round ${round}: ${system}`);
      const r = { round, ...(await run(system, python, texts, rates)) };
      process.stdout.write(JSON.stringify({ ...r, labels: undefined }) + '\n');
      results.push(r);
    }
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = join(root, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, `python-${stamp}.json`),
    JSON.stringify({ rounds, texts: texts.length, rates, results }, null, 2),
  );
  const of = (system: System, pick: (r: RunFigures) => number) =>
    median(results.filter((r) => r.system === system).map(pick));
  const row = (label: string, pick: (r: RunFigures) => number) =>
    `| ${label} | ${of('project', pick)} | ${of('python', pick)} |`;
  const labelsOf = (system: System) => results.find((r) => r.system === system)?.labels ?? [];
  const [ours, theirs] = [labelsOf('project'), labelsOf('python')];
  const agreement = ours.filter((label, i) => label === theirs[i]).length / ours.length;
  const lines = [
    `# This project vs a single-process Python consumer (${stamp})`,
    '',
    `Medians of ${rounds} interleaved rounds, ${texts.length} texts per burst, on this machine. The two`,
    `systems gave the same label to ${(100 * agreement).toFixed(1)}% of round 1's burst texts.`,
    '',
    '| figure | this project | single-process Python |',
    '| --- | ---: | ---: |',
    row('burst, texts/s', (r) => r.burst_texts_per_s),
    row('burst, CPU-s per 1,000 texts: the system', (r) => r.system_cpu_s_per_1000),
    row('burst, CPU-s per 1,000 texts: the broker', (r) => r.broker_cpu_s_per_1000),
    ...rates.flatMap((_, i) => {
      const rate = rates[i].rate;
      return [
        row(`paced ${rate}/s, e2e p50 ms`, (r) => r.paced[i].p50_ms),
        row(`paced ${rate}/s, e2e p99 ms`, (r) => r.paced[i].p99_ms),
        row(`paced ${rate}/s, CPU-s per 1,000: the system`, (r) => r.paced[i].system_cpu_s_per_1000),
        row(`paced ${rate}/s, CPU-s per 1,000: the broker`, (r) => r.paced[i].broker_cpu_s_per_1000),
      ];
    }),
  ];
  writeFileSync(join(out, `python-${stamp}.md`), lines.join('\n') + '\n');
  process.stdout.write(lines.join('\n') + '\n');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
