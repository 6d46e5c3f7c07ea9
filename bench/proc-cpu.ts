import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's utime and stime (USER_HZ: 100 on every Linux the project runs on). */
const TICKS_PER_S = 100;

/** The thread's name and utime + stime in seconds, of a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat file. */
function readStat(path: string): { comm: string; seconds: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: the fields start after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S,
  };
}

/** utime + stime, in seconds (0 once it is gone). */
function statSeconds(path: string): number {
  return readStat(path)?.seconds ?? 0;
}

/** A process's CPU seconds, in all and per thread other than its main thread. */
export interface CpuReading {
  total: number;
  threads: Map<string, number>;
}

export function readCpu(pid: number): CpuReading {
  const threads = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    // gone
  }
  for (const tid of tids) if (tid !== String(pid)) threads.set(tid, statSeconds(`/proc/${pid}/task/${tid}/stat`));
  return { total: statSeconds(`/proc/${pid}/stat`), threads };
}

/**
 * CPU seconds per 1,000 texts outside the model, per process and in all, between two readings.
 * `modelThreads[name]`: how many of that process's threads run the model. Every thread is named
 * "node", so they are found by what they did: the busiest non-main threads over the interval (each
 * onnxruntime session's thread runs for the whole of every batch; Node's own helper threads, GC and
 * the libuv pool, use a few percent of that). Their CPU is reported as `<name>_model`.
 */
export function cpuPer1000(
  before: Record<string, CpuReading>,
  after: Record<string, CpuReading>,
  texts: number,
  modelThreads: Record<string, number> = {},
): Record<string, number> {
  const out: Record<string, number> = {};
  let sum = 0;
  for (const [name, a] of Object.entries(after)) {
    const b = before[name];
    const n = modelThreads[name] ?? 0;
    const deltas = [...a.threads].map(([tid, s]) => s - (b?.threads.get(tid) ?? 0)).sort((x, y) => y - x);
    const model = deltas.slice(0, n).reduce((s, x) => s + x, 0);
    out[name] = (1000 * (a.total - (b?.total ?? 0) - model)) / texts;
    sum += out[name];
    if (n > 0) out[`${name}_model`] = (1000 * model) / texts;
  }
  out.total = sum;
  return out;
}

/**
 * CPU seconds per 1,000 texts of each process's main thread (the event loop: Kafka, Avro, the
 * stage's own work) between two readings; the rest of `cpuPer1000`'s figure is Node's helper threads
 * (GC, the libuv pool) and, in inference, the model.
 */
export function mainThreadPer1000(
  before: Record<string, CpuReading>,
  after: Record<string, CpuReading>,
  texts: number,
  names: readonly string[] = Object.keys(after),
): Record<string, number> {
  const threadSum = (r: CpuReading | undefined) => [...(r?.threads.values() ?? [])].reduce((s, x) => s + x, 0);
  const out: Record<string, number> = {};
  for (const name of names) {
    const a = after[name];
    const b = before[name];
    const main = a.total - threadSum(a) - ((b?.total ?? 0) - threadSum(b));
    out[name] = (1000 * main) / texts;
  }
  return out;
}

/** One interval of a CpuTimeline: each process's CPU share (1 = one core) and its busiest thread. */
export interface CpuBin {
  /** The interval, epoch ms. */
  start: number;
  end: number;
  processes: Record<string, { cores: number; busiest: string; busiestCores: number }>;
}

/**
 * Per-thread CPU of several processes, sampled every `intervalMs`: which process, and which of its
 * threads (the JVM names them: "C2 CompilerThre", "G1 Conc#0"), held the cores in each interval.
 */
export class CpuTimeline {
  private readonly samples: { at: number; threads: Record<string, Map<string, { comm: string; seconds: number }>> }[] =
    [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pids: Record<string, number>,
    intervalMs = 250,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): CpuBin[] {
    clearInterval(this.timer);
    this.sample();
    return this.samples.slice(1).map((b, i) => {
      const a = this.samples[i];
      const seconds = (b.at - a.at) / 1000;
      const processes: CpuBin['processes'] = {};
      for (const name of Object.keys(this.pids)) {
        let total = 0;
        let busiest = { name: '', s: 0 };
        for (const [tid, t] of b.threads[name]) {
          const d = t.seconds - (a.threads[name].get(tid)?.seconds ?? 0);
          total += d;
          if (d > busiest.s) busiest = { name: t.comm, s: d };
        }
        processes[name] = { cores: total / seconds, busiest: busiest.name, busiestCores: busiest.s / seconds };
      }
      return { start: a.at, end: b.at, processes };
    });
  }

  private sample(): void {
    const threads: Record<string, Map<string, { comm: string; seconds: number }>> = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      const map = new Map<string, { comm: string; seconds: number }>();
      let tids: string[] = [];
      try {
        tids = readdirSync(`/proc/${pid}/task`);
      } catch {
        // gone
      }
      for (const tid of tids) {
        const stat = readStat(`/proc/${pid}/task/${tid}/stat`);
        if (stat) map.set(tid, stat);
      }
      threads[name] = map;
    }
    this.samples.push({ at: Date.now(), threads });
  }
}
