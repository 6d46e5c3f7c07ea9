import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_MODEL_DIR, projectRoot } from '@app/config';
import { loadModelInfo, ModelInfo, OnnxClassifier } from '@app/model';
import { TextTokenizer } from '@app/tokenizer';

// Acceptance, for each committed model: the TypeScript serving path (@app/tokenizer ids →
// onnxruntime-node) gives the ids of Hugging Face `tokenizers` and the logits Python onnxruntime gave
// (test/fixtures/model/<model>/fixtures.json, one text at a time, written by tools/model).
//
// Both models store int8 weights but compute in fp32 (tools/model/weight_only_int8.py), so the bounds
// come from fp32 arithmetic, not from one machine's output:
// - Python vs Node, possibly on another CPU: the same onnxruntime build on the same graph, but MLAS picks
//   its SGEMM kernel by instruction set (AVX2 vs AVX-512), which changes the order of the K-term sums
//   (K ≤ 2048 here). Each sum then moves by about √K·ε ≈ 3e-6 of its magnitude (ε = 6e-8), and a
//   few such relative errors per layer through 4–6 LayerNorm-ed layers stay around 1e-4 of the
//   logits' scale. FIXTURE_BOUND allows 10× that: 1e-3 × max(1, |logit|).
// - Alone vs inside a batch: a row's dot products are the same sums in the same order whatever the
//   other rows hold, and padded keys get exactly zero attention weight; only the grouping of a few
//   reductions can change, a handful of ε. The 1e-4 absolute bound holds with wide margin.
const FIXTURE_BOUND = (expected: number) => 1e-3 * Math.max(1, Math.abs(expected));
const BATCH_BOUND = 1e-4;
const BATCH = 32;

interface Fixture {
  text: string;
  input_ids: number[];
  logits: number[];
}

const MODELS = [DEFAULT_MODEL_DIR, join(projectRoot(), 'models', 'minilm-spam')];

describe.each(MODELS)('committed model %s', (dir) => {
  let info: ModelInfo;
  let tokenizer: TextTokenizer;
  let classifier: OnnxClassifier;
  let doc: { model: string; max_length: number; items: Fixture[] };
  const alone: number[][] = [];

  beforeAll(async () => {
    info = loadModelInfo(dir);
    const file = join(projectRoot(), 'test', 'fixtures', 'model', info.name, 'fixtures.json');
    if (!existsSync(file)) throw new Error(`${file} is missing: see tools/model/README.md`);
    doc = JSON.parse(readFileSync(file, 'utf8')) as typeof doc;
    tokenizer = TextTokenizer.fromFile(info.tokenizerPath, info.maxLength);
    classifier = await OnnxClassifier.create(info, { device: 'cpu', intraOpThreads: 0, graphOptimization: 'all' });
    // Loading a session takes well over jest's default 5 s on a busy 2-core machine.
  }, 60_000);

  afterAll(async () => {
    await classifier?.release();
  });

  it('describes the model the fixtures were made with', () => {
    expect(info.name).toBe(doc.model);
    expect(info.maxLength).toBe(doc.max_length);
    expect(doc.items.length).toBeGreaterThanOrEqual(200);
    expect(classifier.inputNames).toEqual(expect.arrayContaining(['input_ids', 'attention_mask']));
  });

  it('tokenizes every fixture text to the ids of Hugging Face tokenizers', () => {
    const wrong = doc.items
      .map((item, index) => ({ index, text: item.text.slice(0, 60), ids: tokenizer.encode(item.text).inputIds, item }))
      .filter(({ ids, item }) => JSON.stringify(ids) !== JSON.stringify(item.input_ids))
      .map(({ index, text }) => ({ index, text }));
    expect(wrong).toEqual([]);
  });

  it("matches every fixture's Python logits within 1e-3·max(1,|logit|), one text at a time", async () => {
    const mismatches: { index: number; text: string; expected: number[]; actual: number[] }[] = [];
    for (const [index, item] of doc.items.entries()) {
      const [actual] = (await classifier.run([item.input_ids])).logits;
      alone[index] = actual;
      const ok =
        actual.length === item.logits.length &&
        actual.every((x, k) => Math.abs(x - item.logits[k]) <= FIXTURE_BOUND(item.logits[k]));
      if (!ok) mismatches.push({ index, text: item.text.slice(0, 60), expected: item.logits, actual });
    }
    expect(mismatches).toEqual([]);
  }, 300_000);

  it(`gives a text the same logits (within ${BATCH_BOUND}) alone and among ${BATCH - 1} mixed-length companions`, async () => {
    expect(alone.length).toBe(doc.items.length);
    // Interleave short and long texts so every batch mixes lengths (and pads most rows).
    const order = doc.items.map((_x, i) => i).sort((a, b) => ((a * 7919) % 101) - ((b * 7919) % 101) || a - b);
    let worst = 0;
    let mixed = 0;
    for (let start = 0; start < order.length; start += BATCH) {
      const rows = order.slice(start, start + BATCH);
      const lengths = rows.map((i) => doc.items[i].input_ids.length);
      if (Math.min(...lengths) !== Math.max(...lengths)) mixed++;
      const { logits } = await classifier.run(rows.map((i) => doc.items[i].input_ids));
      rows.forEach((i, r) => {
        logits[r].forEach((x, k) => (worst = Math.max(worst, Math.abs(x - alone[i][k]))));
      });
    }
    expect(mixed).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(BATCH_BOUND);
  }, 300_000);
});
