import { AppConfig } from '@app/config';
import { loadModelInfo, OnnxClassifier } from '@app/model';
import { TextTokenizer } from '@app/tokenizer';
import { percentile } from './bench-texts';

export interface CeilingPoint {
  batch_size: number;
  texts_per_s: number;
  p50_batch_ms: number;
  p99_batch_ms: number;
}

/**
 * (a) onnxruntime-node alone on pre-tokenized inputs. Inputs are length-sorted before cutting
 * batches, the best case for padding, so this is an honest upper bound for the service.
 */
export async function measureCeiling(
  config: AppConfig,
  texts: string[],
  batchSizes: number[],
): Promise<CeilingPoint[]> {
  const info = loadModelInfo(config.model.dir);
  const tokenizer = TextTokenizer.fromFile(info.tokenizerPath, info.maxLength);
  const ids = texts.map((t) => tokenizer.encode(t).inputIds).sort((a, b) => a.length - b.length);
  const classifier = await OnnxClassifier.create(info, config.inference);
  const points: CeilingPoint[] = [];
  try {
    await classifier.run(ids.slice(0, 8)); // warm-up
    for (const size of batchSizes) {
      const latencies: number[] = [];
      const started = process.hrtime.bigint();
      for (let i = 0; i < ids.length; i += size) {
        const t0 = process.hrtime.bigint();
        await classifier.run(ids.slice(i, i + size));
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      points.push({
        batch_size: size,
        texts_per_s: ids.length / seconds,
        p50_batch_ms: percentile(latencies, 50),
        p99_batch_ms: percentile(latencies, 99),
      });
      process.stderr.write(`  ceiling batch ${size}: ${(ids.length / seconds).toFixed(1)} texts/s\n`);
    }
  } finally {
    await classifier.release();
  }
  return points;
}
