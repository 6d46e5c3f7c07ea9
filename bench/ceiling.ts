import { AppConfig } from '@app/config';
import { loadModelInfo, OnnxClassifier } from '@app/model';
import { TextTokenizer } from '@app/tokenizer';
import { percentile } from './bench-texts';

export interface CeilingPoint {
  batch_size: number;
  /** Sessions running batches side by side (1: one session with all intra-op threads). */
  sessions: number;
  provider: string;
  texts_per_s: number;
  p50_batch_ms: number;
  p99_batch_ms: number;
}

/**
 * (a) onnxruntime-node alone on pre-tokenized inputs. Inputs are length-sorted before cutting
 * batches, the best case for padding, so this is an honest upper bound for the service. Each
 * batch size is measured `rounds` times, interleaved with the others, and the median kept: one
 * lucky or unlucky pass on a shared host does not make the ceiling.
 */
export async function measureCeiling(
  config: AppConfig,
  texts: string[],
  batchSizes: number[],
  layout: { sessions: number; rounds?: number },
): Promise<CeilingPoint[]> {
  const info = loadModelInfo(config.model.dir);
  const tokenizer = TextTokenizer.fromFile(info.tokenizerPath, info.maxLength);
  const ids = texts.map((t) => tokenizer.encode(t).inputIds).sort((a, b) => a.length - b.length);
  const classifier = await OnnxClassifier.create(info, {
    ...config.inference,
    sessions: layout.sessions,
    latencySession: false,
  });
  const rounds = layout.rounds ?? 1;
  const runs = new Map<number, { rate: number; latencies: number[] }[]>(batchSizes.map((s) => [s, []]));
  try {
    await Promise.all(Array.from({ length: classifier.concurrency }, () => classifier.run(ids.slice(0, 8)))); // warm-up
    for (let round = 0; round < rounds; round++) {
      for (const size of batchSizes) {
        const latencies: number[] = [];
        let next = 0;
        const started = process.hrtime.bigint();
        // One lane per session, each taking the next batch when its last one is done.
        await Promise.all(
          Array.from({ length: classifier.concurrency }, async () => {
            for (let i = next; i < ids.length; i = next) {
              next += size;
              const t0 = process.hrtime.bigint();
              await classifier.run(ids.slice(i, i + size));
              latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
            }
          }),
        );
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        runs.get(size)!.push({ rate: ids.length / seconds, latencies });
      }
    }
  } finally {
    await classifier.release();
  }
  return batchSizes.map((size) => {
    const all = runs.get(size)!;
    const median = [...all].sort((a, b) => a.rate - b.rate)[Math.floor(all.length / 2)];
    const point = {
      batch_size: size,
      sessions: classifier.concurrency,
      provider: classifier.provider,
      texts_per_s: median.rate,
      p50_batch_ms: percentile(median.latencies, 50),
      p99_batch_ms: percentile(median.latencies, 99),
    };
    process.stderr.write(
      `  ceiling ${point.provider} ${point.sessions} session(s), batch ${size}: ${point.texts_per_s.toFixed(1)} texts/s (median of ${all.length})\n`,
    );
    return point;
  });
}
