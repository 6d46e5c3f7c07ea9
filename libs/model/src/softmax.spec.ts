import { softmax } from './softmax';

describe('softmax', () => {
  it('turns logits into probabilities that sum to 1', () => {
    const p = softmax([1, 2, 3]);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(p[2]).toBeCloseTo(Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3)), 12);
    expect(p[0]).toBeLessThan(p[1]);
  });

  it('stays finite for huge logits (max is subtracted first)', () => {
    expect(softmax([1000, 1000])).toEqual([0.5, 0.5]);
    const p = softmax([-1e6, 0, 1e4]);
    expect(p.every(Number.isFinite)).toBe(true);
    expect(p[2]).toBe(1);
  });

  it('handles one label and no labels', () => {
    expect(softmax([-3.5])).toEqual([1]);
    expect(softmax([])).toEqual([]);
  });
});
