/**
 * Accuracy of MODEL_DIR on the held-out test split, computed the way the services compute it:
 * @app/tokenizer for the ids, onnxruntime-node (@app/model) for the logits. Split lines that carry a
 * "dataset" field are also reported per dataset.
 *
 *   npm run model:eval [-- --model-dir DIR] [-- --batch N] [-- --split FILE]
 *
 * The split defaults to test/fixtures/model/<model name>/test-split.jsonl.
 * MODEL_DIR, INFERENCE_DEVICE, ORT_INTRA_OP_THREADS and ORT_GRAPH_OPTIMIZATION are read as the
 * services read them (@app/config). Exits 1 when, at the model card's batch size, the accuracy
 * differs from the one MODEL_CARD.md reports.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { loadConfig, projectRoot } from '@app/config';
import { loadModelInfo, ModelInfo, OnnxClassifier } from '@app/model';
import { TextTokenizer } from '@app/tokenizer';
import { classificationMetrics, ClassificationMetrics } from './classification-metrics';

// tools/model/build_model.py scores the committed model in batches of 32 texts sorted by length.
const CARD_BATCH = 32;

interface Args {
  batch: number;
  split?: string;
  modelDir?: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { batch: CARD_BATCH };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    if (flag === '--batch') {
      const batch = value();
      if (!/^\d+$/.test(batch) || Number(batch) < 1) fail(`--batch must be a positive integer, got "${batch}"`);
      args.batch = Number(batch);
    } else if (flag === '--split') args.split = value();
    else if (flag === '--model-dir') args.modelDir = value();
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(
        'usage: npm run model:eval -- [--model-dir DIR (default MODEL_DIR)] [--batch N (default 32)] [--split FILE.jsonl]\n',
      );
      process.exit(0);
    } else fail(`unknown argument "${argv[i]}"`);
  }
  return args;
}

function fail(message: string): never {
  process.stderr.write(`model:eval: ${message}\n`);
  process.exit(2);
}

function readSplit(file: string, labels: string[]): { texts: string[]; truth: number[]; datasets: string[] } {
  if (!existsSync(file)) fail(`${file} is missing`);
  const texts: string[] = [];
  const truth: number[] = [];
  const datasets: string[] = [];
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      const row = JSON.parse(line) as { text?: unknown; label?: unknown; dataset?: unknown };
      const label = labels.indexOf(String(row.label));
      if (typeof row.text !== 'string' || label < 0) {
        fail(`${file}:${i + 1} needs {"text": string, "label": one of ${labels.join(', ')}}`);
      }
      texts.push(row.text);
      truth.push(label);
      datasets.push(typeof row.dataset === 'string' ? row.dataset : '');
    });
  if (texts.length === 0) fail(`${file} has no examples`);
  return { texts, truth, datasets };
}

/** The accuracy MODEL_CARD.md reports for the committed file, if it says. */
function cardAccuracy(info: ModelInfo): string | undefined {
  const card = join(info.dir, 'MODEL_CARD.md');
  if (!existsSync(card)) return undefined;
  return /Committed file on the test split: accuracy \*\*([\d.]+)%\*\*/.exec(readFileSync(card, 'utf8'))?.[1];
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const rate = (n: number, seconds: number) => `${(n / seconds).toFixed(1)} texts/s`;
const seconds = (since: bigint) => Number(process.hrtime.bigint() - since) / 1e9;

function report(m: ClassificationMetrics, labels: string[]): string[] {
  const width = Math.max(5, ...labels.map((l) => l.length));
  const lines = [
    `accuracy   ${pct(m.accuracy)}`,
    `macro-F1   ${pct(m.macroF1)}`,
    '',
    `${'label'.padEnd(width)}  precision  recall     F1         support`,
    ...m.perLabel.map(
      (l) =>
        `${l.label.padEnd(width)}  ${pct(l.precision).padEnd(9)}  ${pct(l.recall).padEnd(9)}  ${pct(l.f1).padEnd(9)}  ${l.support}`,
    ),
    '',
    `confusion (rows: true, columns: predicted ${labels.join(', ')})`,
    ...m.confusion.map((row, k) => `${labels[k].padEnd(width)}  ${row.map((c) => String(c).padStart(6)).join('')}`),
  ];
  return lines;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const config = loadConfig(args.modelDir ? { ...process.env, MODEL_DIR: args.modelDir } : process.env);
  const info = loadModelInfo(config.model.dir);
  const split = args.split ?? join(projectRoot(), 'test', 'fixtures', 'model', info.name, 'test-split.jsonl');
  const { texts, truth, datasets } = readSplit(split, info.labels);

  let start = process.hrtime.bigint();
  const tokenizer = TextTokenizer.fromFile(info.tokenizerPath, info.maxLength);
  const encodings = tokenizer.encodeBatch(texts);
  const tokenizeSeconds = seconds(start);

  const classifier = await OnnxClassifier.create(info, config.inference);
  // Same order as tools/model (stable sort by length in characters), so batches hold the same texts as
  // when the card was written (the committed models compute in fp32; the order only matters for speed).
  const order = texts.map((_t, i) => i).sort((a, b) => codePoints(texts[a]) - codePoints(texts[b]) || a - b);
  const batches: number[][] = [];
  for (let i = 0; i < order.length; i += args.batch) batches.push(order.slice(i, i + args.batch));

  await classifier.run([encodings[batches[0][0]].inputIds]); // warm-up, not timed
  const predicted = new Array<number>(texts.length);
  let padded = 0;
  start = process.hrtime.bigint();
  for (const batch of batches) {
    const { logits, padLength } = await classifier.run(batch.map((i) => encodings[i].inputIds));
    padded += padLength * batch.length;
    batch.forEach((i, row) => (predicted[i] = argmax(logits[row])));
  }
  const inferSeconds = seconds(start);
  await classifier.release();

  const metrics = classificationMetrics(info.labels, truth, predicted);
  const card = cardAccuracy(info);
  const tokens = encodings.reduce((a, e) => a + e.tokenCount, 0);
  const truncated = encodings.filter((e) => e.truncated).length;
  const threads = config.inference.intraOpThreads || 'auto';
  const out = [
    `model      ${info.name}@${info.version} (${info.dir})`,
    `provider   onnxruntime-node ${classifier.provider} (INFERENCE_DEVICE=${config.inference.device}, intra-op threads ${threads}, graph optimization ${config.inference.graphOptimization})`,
    `split      ${relative(process.cwd(), split) || split}: ${texts.length} texts, ${pct(truncated / texts.length)} truncated to ${info.maxLength} tokens`,
    `batches    ${batches.length} of ≤${args.batch} (sorted by length), ${tokens} tokens padded to ${padded} (${pct(tokens / padded)} real)`,
    ...perDataset(info.labels, truth, predicted, datasets),
    '',
    ...report(metrics, info.labels),
    '',
    `speed      tokenizer ${rate(texts.length, tokenizeSeconds)}; model ${rate(texts.length, inferSeconds)}; end to end ${rate(texts.length, tokenizeSeconds + inferSeconds)}`,
  ];
  let exitCode = 0;
  if (card === undefined) {
    out.push('card       MODEL_CARD.md reports no test accuracy to compare with');
  } else {
    const same = (100 * metrics.accuracy).toFixed(2) === card;
    const note =
      args.batch === CARD_BATCH ? '' : ` (card measured at batch ${CARD_BATCH}; this run used ${args.batch})`;
    out.push(`card       MODEL_CARD.md test accuracy ${card}%: ${same ? 'reproduced' : 'NOT reproduced'}${note}`);
    if (!same && args.batch === CARD_BATCH) exitCode = 1;
  }
  process.stdout.write(`${out.join('\n')}\n`);
  process.exitCode = exitCode;
}

/** One line per dataset named in the split: accuracy and macro-F1 over the labels it has. */
function perDataset(labels: string[], truth: number[], predicted: number[], datasets: string[]): string[] {
  const names = [...new Set(datasets)].filter(Boolean);
  if (names.length === 0) return [];
  const width = Math.max(...names.map((n) => n.length));
  return [
    '',
    ...names.map((name) => {
      const rows = datasets.flatMap((d, i) => (d === name ? [i] : []));
      const m = classificationMetrics(
        labels,
        rows.map((i) => truth[i]),
        rows.map((i) => predicted[i]),
      );
      const present = m.perLabel.filter((l) => l.support > 0);
      const macroF1 = present.reduce((a, l) => a + l.f1, 0) / present.length;
      return `${name.padEnd(width)}  test accuracy ${pct(m.accuracy)}  macro-F1 ${pct(macroF1)} (${present.length} labels)  n=${rows.length}`;
    }),
  ];
}

function argmax(row: number[]): number {
  let best = 0;
  for (let k = 1; k < row.length; k++) if (row[k] > row[best]) best = k;
  return best;
}

// Python's len(): code points, not UTF-16 units.
function codePoints(s: string): number {
  let n = 0;
  for (const _c of s) n++;
  return n;
}

main().catch((error: unknown) => {
  process.stderr.write(`model:eval: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
