// The bare ceiling: onnxruntime alone, with no code of this project on the timed path, in Node and in
// Python, on the same batches and thread layout. The inference service is measured against the
// better of the two (bench/README.md). Layout: two threads, each with its own session of 1 intra-op
// and 1 inter-op thread, ORT_ENABLE_ALL, taking the next batch from a shared counter; Node runs
// bench/bare-ceiling.worker.js in worker threads, Python bench/python-baseline/bare_ceiling.py in
// threading.Threads (session.run releases the GIL). The texts are tokenized once, outside the timing,
// globally length-sorted, and cut into batches under the service's caps (BATCH_MAX_SIZE,
// BATCH_MAX_TOKENS padded tokens). Rounds alternate between the two; medians are kept. The project's
// OnnxClassifier runs the same batches in the same layout beside them, to show what the wrapper costs.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { AppConfig, projectRoot } from '@app/config';
import { loadModelInfo, OnnxClassifier } from '@app/model';
import { TextTokenizer } from '@app/tokenizer';
import { percentile } from './bench-texts';

const THREADS = 2;

export interface BareFigures {
  texts_per_s: number;
  cpu_s_per_1000: number;
  /** Every round's texts/s, in order. */
  rounds: number[];
}

export interface BareCeiling {
  texts: number;
  batches: number;
  mean_batch_size: number;
  caps: { max_size: number; max_tokens: number };
  threads: number;
  node: BareFigures;
  python?: BareFigures;
  /** The same batches through this project's OnnxClassifier (2 sessions × 1 thread, no latency session). */
  wrapper: BareFigures;
  /** Share of texts that every contender gave the same argmax. */
  label_agreement: number;
  /** The better of the two: the service's yardstick. */
  best_texts_per_s: number;
}

/** Globally length-sorted rows cut under the caps: ≤ maxSize rows, rows × longest ≤ maxTokens. */
export function bareBatches(rows: number[][], maxSize: number, maxTokens: number): number[][][] {
  const sorted = [...rows].sort((a, b) => a.length - b.length);
  const out: number[][][] = [];
  let batch: number[][] = [];
  for (const row of sorted) {
    if (batch.length > 0 && (batch.length + 1 > maxSize || (batch.length + 1) * row.length > maxTokens)) {
      out.push(batch);
      batch = [];
    }
    batch.push(row);
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

interface Round {
  seconds: number;
  cpu_s: number;
  labels: number[][];
}

class NodeBare {
  private constructor(
    private readonly workers: Worker[],
    private readonly next: Int32Array,
  ) {}

  static async start(modelPath: string, batches: number[][][]): Promise<NodeBare> {
    const shared = new SharedArrayBuffer(4);
    const workers = Array.from(
      { length: THREADS },
      () => new Worker(join(__dirname, 'bare-ceiling.worker.js'), { workerData: { modelPath, batches, next: shared } }),
    );
    await Promise.all(workers.map((w) => reply<string>(w)));
    return new NodeBare(workers, new Int32Array(shared));
  }

  async run(batchCount: number): Promise<Round> {
    Atomics.store(this.next, 0, 0);
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const replies = await Promise.all(
      this.workers.map((w) => {
        const answer = reply<{ labels: [number, number[]][] }>(w);
        w.postMessage('run');
        return answer;
      }),
    );
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const labels: number[][] = new Array<number[]>(batchCount);
    for (const r of replies) for (const [b, best] of r.labels) labels[b] = best;
    return { seconds, cpu_s: (cpu.user + cpu.system) / 1e6, labels };
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        const done = reply(w);
        w.postMessage('release');
        await done;
        await w.terminate();
      }),
    );
  }
}

/** The project's classifier in the bare layout: one lane per session, each taking the next batch. */
async function wrapperRun(classifier: OnnxClassifier, batches: number[][][]): Promise<Round> {
  let next = 0;
  const labels: number[][] = new Array<number[]>(batches.length);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: classifier.concurrency }, async () => {
      for (let b = next++; b < batches.length; b = next++) {
        const { logits } = await classifier.run(batches[b]);
        labels[b] = logits.map((row) => row.indexOf(Math.max(...row)));
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { seconds, cpu_s: (cpu.user + cpu.system) / 1e6, labels };
}

const reply = <T>(w: Worker): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });

class PythonBare {
  private constructor(
    private readonly child: ReturnType<typeof spawn>,
    private readonly lines: AsyncIterator<string>,
  ) {}

  static async start(python: string, batchesFile: string): Promise<PythonBare> {
    const child = spawn(python, [join(projectRoot(), 'bench/python-baseline/bare_ceiling.py'), batchesFile], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done || first.value !== 'ready') throw new Error('the Python bare ceiling did not start');
    return new PythonBare(child, lines);
  }

  async run(): Promise<Round> {
    this.child.stdin!.write('run\n');
    const line = await this.lines.next();
    if (line.done) throw new Error('the Python bare ceiling exited');
    return JSON.parse(line.value) as Round;
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin!.end('quit\n');
    await exited;
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;

function figures(runs: Round[], texts: number): BareFigures {
  const rates = runs.map((r) => texts / r.seconds);
  const median = percentile(rates, 50);
  const at = runs[rates.indexOf(median)];
  return {
    texts_per_s: round1(median),
    cpu_s_per_1000: Math.round(((1000 * at.cpu_s) / texts) * 100) / 100,
    rounds: rates.map(round1),
  };
}

/** Runs both halves `rounds` times, alternating who goes first; python undefined = Node alone. */
export async function measureBareCeiling(
  config: AppConfig,
  texts: string[],
  options: { rounds: number; python?: string; log: (msg: string) => void },
): Promise<BareCeiling> {
  const info = loadModelInfo(config.model.dir);
  const tokenizer = TextTokenizer.fromFile(info.tokenizerPath, info.maxLength);
  const batches = bareBatches(
    texts.map((t) => tokenizer.encode(t).inputIds),
    config.batch.maxSize,
    config.batch.maxTokens,
  );
  const dir = mkdtempSync(join(tmpdir(), 'bare-ceiling-'));
  const file = join(dir, 'batches.json');
  writeFileSync(file, JSON.stringify({ modelPath: info.modelPath, batches }));
  const node = await NodeBare.start(info.modelPath, batches);
  const python = options.python ? await PythonBare.start(options.python, file) : undefined;
  const classifier = await OnnxClassifier.create(info, {
    ...config.inference,
    device: 'cpu',
    sessions: THREADS,
    intraOpThreads: 1,
    latencySession: false,
  });
  await Promise.all(Array.from({ length: classifier.concurrency }, () => classifier.run(batches[0]))); // warm-up
  const runs: Record<'node' | 'python' | 'wrapper', Round[]> = { node: [], python: [], wrapper: [] };
  try {
    for (let round = 1; round <= options.rounds; round++) {
      const order =
        round % 2 === 1 ? (['node', 'python', 'wrapper'] as const) : (['wrapper', 'python', 'node'] as const);
      for (const who of order) {
        if (who === 'python' && !python) continue;
        const r =
          who === 'node'
            ? await node.run(batches.length)
            : who === 'python'
              ? await python!.run()
              : await wrapperRun(classifier, batches);
        runs[who].push(r);
        options.log(`bare ceiling round ${round}, ${who}: ${round1(texts.length / r.seconds)} texts/s`);
      }
    }
  } finally {
    await node.stop();
    await python?.stop();
    await classifier.release();
    rmSync(dir, { recursive: true, force: true });
  }
  const result: BareCeiling = {
    texts: texts.length,
    batches: batches.length,
    mean_batch_size: round1(texts.length / batches.length),
    caps: { max_size: config.batch.maxSize, max_tokens: config.batch.maxTokens },
    threads: THREADS,
    node: figures(runs.node, texts.length),
    wrapper: figures(runs.wrapper, texts.length),
    label_agreement: 0,
    best_texts_per_s: 0,
  };
  if (python) result.python = figures(runs.python, texts.length);
  // Each runtime's first round, text by text in batch order: the same argmax everywhere?
  const firsts = [runs.node, runs.python, runs.wrapper].filter((r) => r.length > 0).map((r) => r[0].labels.flat());
  result.label_agreement =
    firsts[0].filter((label, i) => firsts.every((f) => f[i] === label)).length / firsts[0].length;
  result.best_texts_per_s = Math.max(result.node.texts_per_s, result.python?.texts_per_s ?? 0);
  return result;
}

/** The bare ceiling as markdown lines: a table of the three contenders and what they agree on. */
export function bareMarkdown(b: BareCeiling): string[] {
  const row = (name: string, f: BareFigures | undefined) =>
    f ? `| ${name} | ${f.texts_per_s} | ${f.rounds.join(', ')} | ${f.cpu_s_per_1000} |` : `| ${name} | not run | | |`;
  return [
    `${b.texts} texts in ${b.batches} globally length-sorted batches (mean ${b.mean_batch_size}; caps ${b.caps.max_size} texts, ${b.caps.max_tokens} padded tokens), ${b.threads} threads × 1 session of 1 intra-op thread. Medians of ${b.node.rounds.length} alternating rounds.`,
    '',
    '| contender | texts/s | each round | CPU-s per 1,000 texts |',
    '| --- | ---: | --- | ---: |',
    row('onnxruntime-node, `InferenceSession.run` in worker threads (bare)', b.node),
    row('Python onnxruntime, `session.run` in threads (bare)', b.python),
    row("this project's `OnnxClassifier` (same batches and layout)", b.wrapper),
    '',
    `Bare ceiling (the better bare runtime): **${b.best_texts_per_s} texts/s**. Same argmax from every contender for ${(100 * b.label_agreement).toFixed(1)}% of the texts.`,
  ];
}
