import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_MODEL_DIR, projectRoot } from '@app/config';
import { loadModelInfo, ModelInfo, OnnxClassifier, softmax } from '@app/model';
import { TextTokenizer } from '@app/tokenizer';

// Acceptance: the TypeScript serving path (@app/tokenizer ids → onnxruntime-node) gives the logits
// Python onnxruntime gave for the committed model (test/fixtures/model/fixtures.json, written by
// tools/model/build_model.py one text at a time).
const TOLERANCE = 1e-4;

// Batched runs cannot meet TOLERANCE with this model, and not because of padding code: model.onnx
// is int8 with *dynamic* activation quantization (DynamicQuantizeLinear, one scale per tensor), so
// each row's logits depend on everything else in the batch, pads included. Python onnxruntime
// shows the same (a text run next to one 128-token text moves by up to 0.29 in both). Measured on
// the 300 fixtures in batches of 32 (file order), over two builds of the model: max |Δlogit|
// 0.53-0.84, max |ΔP(spam)| 0.12-0.19, no label flips. Batches of 1 match to 0. These bounds pin
// that behaviour; broken padding or masks would blow far past them.
const BATCHED_MAX_LOGIT_DELTA = 1.0;
const BATCHED_MAX_PROB_DELTA = 0.25;
const FIXTURES = join(projectRoot(), 'test', 'fixtures', 'model', 'fixtures.json');

interface Fixture {
  text: string;
  input_ids: number[];
  logits: number[];
}

interface Mismatch {
  index: number;
  text: string;
  expected: number[];
  actual: number[];
  delta: number;
}

function maxAbsDelta(a: number[], b: number[]): number {
  if (a.length !== b.length) return Infinity;
  return Math.max(...a.map((x, i) => Math.abs(x - b[i])));
}

describe('default model: onnxruntime-node against the Python fixtures', () => {
  let info: ModelInfo;
  let tokenizer: TextTokenizer;
  let classifier: OnnxClassifier;
  let doc: { model: string; max_length: number; items: Fixture[] };

  beforeAll(async () => {
    if (!existsSync(FIXTURES)) throw new Error(`${FIXTURES} is missing: run tools/model/build.sh`);
    doc = JSON.parse(readFileSync(FIXTURES, 'utf8')) as typeof doc;
    info = loadModelInfo(DEFAULT_MODEL_DIR);
    tokenizer = TextTokenizer.fromFile(info.tokenizerPath, info.maxLength);
    classifier = await OnnxClassifier.create(info, { device: 'cpu', intraOpThreads: 0, graphOptimization: 'all' });
  });

  afterAll(async () => {
    await classifier?.release();
  });

  it('describes the model the fixtures were made with', () => {
    expect(info.name).toBe(doc.model);
    expect(info.maxLength).toBe(doc.max_length);
    expect(doc.items.length).toBeGreaterThanOrEqual(200);
    expect(classifier.inputNames).toEqual(expect.arrayContaining(['input_ids', 'attention_mask']));
  });

  it(`matches every fixture's logits within ${TOLERANCE} (batches of 1, ids from @app/tokenizer)`, async () => {
    const mismatches: Mismatch[] = [];
    let worst = 0;
    for (const [index, item] of doc.items.entries()) {
      const ids = tokenizer.encode(item.text).inputIds;
      expect(ids).toEqual(item.input_ids);
      const [actual] = (await classifier.run([ids])).logits;
      const delta = maxAbsDelta(actual, item.logits);
      worst = Math.max(worst, delta);
      if (!(delta <= TOLERANCE))
        mismatches.push({ index, text: item.text.slice(0, 60), expected: item.logits, actual, delta });
    }
    expect(mismatches).toEqual([]);
    expect(worst).toBeLessThanOrEqual(TOLERANCE);
  }, 300_000);

  it('stays within the documented batching bounds for padded batches of 32 (int8 dynamic quantization)', async () => {
    let worstLogit = 0;
    let worstProb = 0;
    const flips: Mismatch[] = [];
    for (let start = 0; start < doc.items.length; start += 32) {
      const batch = doc.items.slice(start, start + 32);
      const { logits, padLength } = await classifier.run(batch.map((item) => item.input_ids));
      expect(padLength).toBe(Math.max(...batch.map((item) => item.input_ids.length)));
      batch.forEach((item, row) => {
        const delta = maxAbsDelta(logits[row], item.logits);
        const [expected, actual] = [softmax(item.logits), softmax(logits[row])];
        const probDelta = maxAbsDelta(actual, expected);
        worstLogit = Math.max(worstLogit, delta);
        worstProb = Math.max(worstProb, probDelta);
        const label = (p: number[]) => p.indexOf(Math.max(...p));
        // A label may only flip where Python itself was within the probability bound of a tie.
        if (label(actual) !== label(expected) && Math.abs(expected[0] - expected[1]) / 2 >= BATCHED_MAX_PROB_DELTA) {
          flips.push({
            index: start + row,
            text: item.text.slice(0, 60),
            expected: item.logits,
            actual: logits[row],
            delta,
          });
        }
      });
    }
    expect(flips).toEqual([]);
    expect(worstLogit).toBeLessThanOrEqual(BATCHED_MAX_LOGIT_DELTA);
    expect(worstProb).toBeLessThanOrEqual(BATCHED_MAX_PROB_DELTA);
  }, 300_000);
});
