// The GPU half of the benchmark (scripts/gpu-bench.sh runs it): (a) the ceiling and the service's
// compute path (micro-batcher + model, no Kafka) on INFERENCE_DEVICE (default cuda).
// Needs no network and no Kafka; prints a markdown table and writes bench/results/gpu-<stamp>.*.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, projectRoot, systemClock } from '@app/config';
import { loadModelInfo, OnnxClassifier } from '@app/model';
import { Batcher } from '@app/stage';
import { TextTokenizer } from '@app/tokenizer';
import { benchTexts } from './bench-texts';
import { measureCeiling } from './ceiling';
import { BenchMachine, describeMachine, machineLine } from './machine';

const log = (msg: string) => process.stderr.write(`[gpu-bench] ${msg}\n`);

async function main(): Promise<void> {
  const config = loadConfig({ INFERENCE_DEVICE: 'cuda', ...process.env });
  const n = Number(process.env.GPU_BENCH_TEXTS ?? 4096);
  const texts = benchTexts(n);
  const info = loadModelInfo(config.model.dir);
  const results: Record<string, unknown> = {
    started_at: new Date().toISOString(),
    requested_device: config.inference.device,
    machine: describeMachine(),
    texts: n,
  };

  const sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256];
  log(`(a) ceiling on ${config.inference.device}, batch sizes ${sizes.join(', ')}`);
  const ceiling = await measureCeiling(config, texts.slice(0, 1024), sizes, { sessions: config.inference.sessions });
  const best = ceiling.reduce((a, b) => (b.texts_per_s > a.texts_per_s ? b : a));
  Object.assign(results, {
    provider: best.provider,
    ceiling,
    ceiling_texts_per_s: best.texts_per_s,
    ceiling_best_batch_size: best.batch_size,
  });

  log('(b) the service compute path: micro-batcher + model, records arriving as fast as they can');
  const classifier = await OnnxClassifier.create(info, config.inference);
  const tokenizer = TextTokenizer.fromFile(info.tokenizerPath, info.maxLength);
  const records = texts.map((t) => tokenizer.encode(t).inputIds);
  try {
    await classifier.run(records.slice(0, 8));
    for (const limits of [config.batch, { ...config.batch, maxSize: 256, maxTokens: 32_768, minTokenEfficiency: 0 }]) {
      const batcher = new Batcher<number[]>(limits, (ids) => ids.length, systemClock);
      const started = performance.now();
      // One worker per session takes the next batch as soon as its last run is done, as the service does.
      let left = records.length;
      const done = new Promise<void>((resolve, reject) => {
        for (let s = 0; s < classifier.concurrency; s++) {
          void (async () => {
            while (left > 0) {
              const batch = await batcher.next();
              await classifier.run(batch);
              left -= batch.length;
              if (left === 0) resolve();
            }
          })().catch(reject);
        }
      });
      // Fed in chunks as a consumer's fetches would be.
      for (let i = 0; i < records.length; i += 500) batcher.push(records.slice(i, i + 500));
      await done;
      const seconds = (performance.now() - started) / 1000;
      const key = limits === config.batch ? 'service_compute' : 'service_compute_large_batches';
      results[`${key}_texts_per_s`] = records.length / seconds;
      results[`${key}_mean_batch_size`] = batcher.stats.records / batcher.stats.batches;
      results[`${key}_token_efficiency`] = batcher.stats.realTokens / batcher.stats.paddedTokens;
      results[`${key}_limits`] = limits;
      log(`  ${key}: ${(records.length / seconds).toFixed(1)} texts/s`);
    }
  } finally {
    await classifier.release();
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(projectRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `gpu-${stamp}.json`), JSON.stringify(results, null, 2) + '\n');
  const md = markdown(results as unknown as GpuBenchReport, ceiling);
  writeFileSync(join(dir, `gpu-${stamp}.md`), md);
  process.stdout.write(md);
  log(`wrote bench/results/gpu-${stamp}.{json,md}`);
}

/** The figures of a run, as written to bench/results/gpu-<stamp>.json. */
interface GpuBenchReport {
  started_at: string;
  provider: string;
  requested_device: string;
  texts: number;
  machine: BenchMachine;
  ceiling_best_batch_size: number;
  ceiling_texts_per_s: number;
  service_compute_limits: { maxSize: number; maxTokens: number };
  service_compute_texts_per_s: number;
  service_compute_mean_batch_size: number;
  service_compute_token_efficiency: number;
  service_compute_large_batches_texts_per_s: number;
  service_compute_large_batches_mean_batch_size: number;
}

function markdown(r: GpuBenchReport, ceiling: Awaited<ReturnType<typeof measureCeiling>>): string {
  const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : String(v));
  const warning =
    r.provider !== r.requested_device
      ? [`**The ${r.requested_device} provider was not available: these figures are ${r.provider}.**`, '']
      : [];
  return [
    `# GPU benchmark ${r.started_at}`,
    '',
    ...warning,
    `provider ${r.provider}; ${r.texts} mixed-length texts; host ${machineLine(r.machine)}, Node ${r.machine.node}`,
    '',
    '| batch size | texts/s | p50 batch ms | p99 batch ms |',
    '| ---: | ---: | ---: | ---: |',
    ...ceiling.map((c) => `| ${c.batch_size} | ${f(c.texts_per_s)} | ${f(c.p50_batch_ms)} | ${f(c.p99_batch_ms)} |`),
    '',
    '| figure | value |',
    '| --- | ---: |',
    `| ceiling_texts_per_s (batch ${r.ceiling_best_batch_size}) | ${f(r.ceiling_texts_per_s)} |`,
    `| service_compute_texts_per_s (BATCH_MAX_SIZE=${r.service_compute_limits.maxSize}, BATCH_MAX_TOKENS=${r.service_compute_limits.maxTokens}) | ${f(r.service_compute_texts_per_s)} |`,
    `| service_compute_mean_batch_size | ${f(r.service_compute_mean_batch_size)} |`,
    `| service_compute_token_efficiency | ${f(r.service_compute_token_efficiency, 3)} |`,
    `| service_compute_large_batches_texts_per_s (256, 32768, no efficiency floor) | ${f(r.service_compute_large_batches_texts_per_s)} |`,
    `| service_compute_large_batches_mean_batch_size | ${f(r.service_compute_large_batches_mean_batch_size)} |`,
    `| service / ceiling | ${f(Math.max(r.service_compute_texts_per_s, r.service_compute_large_batches_texts_per_s) / r.ceiling_texts_per_s, 3)} |`,
    '',
  ].join('\n');
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`[gpu-bench] failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
