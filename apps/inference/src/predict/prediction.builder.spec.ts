import type { TokenizedText } from '@app/avro';
import { buildPrediction, ModelIdentity, tokensProblem } from './prediction.builder';

const RECORD: TokenizedText = {
  id: 'req-9',
  inputIds: [101, 2023, 102],
  tokenCount: 3,
  truncated: true,
  tokenizer: 'minilm-spam@1',
  createdAt: 1_700_000_000_000,
  tokenizedAt: 1_700_000_000_004,
  source: 'stream',
  metadata: { tenant: 'acme' },
};
const MODEL: ModelIdentity = { name: 'minilm-spam', version: '1.2.0', labels: ['ham', 'spam'] };
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('buildPrediction', () => {
  it('labels the record with the argmax and its softmax score', () => {
    const p = buildPrediction(RECORD, [-1, 2], MODEL, 8, 1_700_000_000_010);
    expect(p.label).toBe('spam');
    // softmax([-1, 2]) = [1, e^3] / (1 + e^3)
    expect(p.score).toBeCloseTo(Math.exp(3) / (1 + Math.exp(3)), 12);
    expect(p.scores.ham).toBeCloseTo(1 / (1 + Math.exp(3)), 12);
    expect(p.scores.spam).toBe(p.score);
  });

  it('gives every label a score, summing to 1, the label holding the highest', () => {
    const model = { ...MODEL, labels: ['business', 'politics', 'sports', 'tech'] };
    const p = buildPrediction(RECORD, [0.3, 4.1, -2, 1.7], model, 1, 0);
    expect(Object.keys(p.scores)).toEqual(model.labels);
    expect(sum(Object.values(p.scores))).toBeCloseTo(1, 12);
    expect(p.label).toBe('politics');
    expect(p.score).toBe(Math.max(...Object.values(p.scores)));
  });

  it('is stable for large logits (no NaN or Infinity)', () => {
    const p = buildPrediction(RECORD, [1000, 1001], MODEL, 1, 0);
    expect(p.label).toBe('spam');
    expect(Number.isFinite(p.score)).toBe(true);
    expect(sum(Object.values(p.scores))).toBeCloseTo(1, 12);
  });

  it('picks the first label on a tie', () => {
    expect(buildPrediction(RECORD, [0.5, 0.5], MODEL, 1, 0)).toMatchObject({ label: 'ham', score: 0.5 });
  });

  it('names labels the model does not name LABEL_<i>', () => {
    const p = buildPrediction(RECORD, [0, 1, 5], MODEL, 1, 0);
    expect(p.label).toBe('LABEL_2');
    expect(Object.keys(p.scores)).toEqual(['ham', 'spam', 'LABEL_2']);
  });

  it('carries the record and model fields over', () => {
    const p = buildPrediction(RECORD, [2, -1], MODEL, 8, 1_700_000_000_010);
    expect(p).toEqual({
      id: 'req-9',
      label: 'ham',
      score: expect.any(Number),
      scores: { ham: expect.any(Number), spam: expect.any(Number) },
      model: 'minilm-spam',
      modelVersion: '1.2.0',
      createdAt: 1_700_000_000_000,
      tokenizedAt: 1_700_000_000_004,
      predictedAt: 1_700_000_000_010,
      batchSize: 8,
      truncated: true,
      source: 'stream',
      metadata: { tenant: 'acme' },
    });
  });
});

describe('tokensProblem', () => {
  const VOCAB = 30_522;
  const MAX_LEN = 8;
  const withIds = (inputIds: number[], tokenCount = inputIds.length): TokenizedText => ({
    ...RECORD,
    inputIds,
    tokenCount,
  });

  it('accepts a well-formed record, including ids 0 and vocab-1 and exactly max length', () => {
    expect(tokensProblem(RECORD, VOCAB, MAX_LEN)).toBeUndefined();
    expect(tokensProblem(withIds([0, VOCAB - 1]), VOCAB, MAX_LEN)).toBeUndefined();
    expect(tokensProblem(withIds(Array(MAX_LEN).fill(5)), VOCAB, MAX_LEN)).toBeUndefined();
  });

  it.each([
    ['no ids', withIds([]), 'inputIds is empty'],
    ['more ids than the max length', withIds(Array(9).fill(5)), "inputIds has 9 tokens, over the model's max length 8"],
    ['a tokenCount that disagrees', withIds([101, 102], 3), 'tokenCount 3 != inputIds length 2'],
    ['a negative id', withIds([101, -1, 102]), 'token id -1 is outside the vocabulary [0, 30522)'],
    [
      'an id equal to the vocab size',
      withIds([101, VOCAB, 102]),
      'token id 30522 is outside the vocabulary [0, 30522)',
    ],
    ['an id above the vocab size', withIds([101, 99_999]), 'token id 99999 is outside the vocabulary [0, 30522)'],
  ])('refuses %s', (_name, record, problem) => {
    expect(tokensProblem(record, VOCAB, MAX_LEN)).toBe(problem);
  });
});
