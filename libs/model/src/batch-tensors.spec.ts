import { buildBatchTensors } from './batch-tensors';

describe('buildBatchTensors', () => {
  it('right-pads to the longest sequence with id 0 and mask 0, token types all 0', () => {
    const t = buildBatchTensors([
      [101, 7, 102],
      [101, 102],
      [101, 5, 6, 9, 102],
    ]);
    expect(t.batchSize).toBe(3);
    expect(t.padLength).toBe(5);
    expect(Array.from(t.inputIds, Number)).toEqual([101, 7, 102, 0, 0, 101, 102, 0, 0, 0, 101, 5, 6, 9, 102]);
    expect(Array.from(t.attentionMask, Number)).toEqual([1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1]);
    expect(Array.from(t.tokenTypeIds, Number)).toEqual(new Array(15).fill(0));
  });

  it('adds no padding when the batch is one sequence', () => {
    const t = buildBatchTensors([[101, 102]]);
    expect(t.padLength).toBe(2);
    expect(Array.from(t.attentionMask, Number)).toEqual([1, 1]);
  });

  it.each([
    ['an empty batch', [], /empty batch/],
    ['an empty sequence', [[101, 102], []], /empty token sequence/],
    ['a negative id', [[101, -1]], /token id -1 \(row 0\)/],
    ['a fractional id', [[1.5]], /token id 1.5/],
  ])('rejects %s', (_what, batch, message) => {
    expect(() => buildBatchTensors(batch)).toThrow(message);
  });
});
