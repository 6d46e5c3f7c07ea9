import { classificationMetrics } from '../../tools/model-eval/classification-metrics';

describe('classificationMetrics', () => {
  it('computes accuracy, macro-F1, per-label precision/recall and the confusion matrix', () => {
    // truth:     ham ham ham spam spam
    // predicted: ham ham spam spam ham
    const m = classificationMetrics(['ham', 'spam'], [0, 0, 0, 1, 1], [0, 0, 1, 1, 0]);
    expect(m.n).toBe(5);
    expect(m.accuracy).toBeCloseTo(3 / 5, 12);
    expect(m.confusion).toEqual([
      [2, 1],
      [1, 1],
    ]);
    expect(m.perLabel[0]).toMatchObject({ label: 'ham', precision: 2 / 3, recall: 2 / 3, support: 3 });
    expect(m.perLabel[1]).toMatchObject({ label: 'spam', precision: 1 / 2, recall: 1 / 2, support: 2 });
    expect(m.macroF1).toBeCloseTo((2 / 3 + 1 / 2) / 2, 12);
  });

  it('scores a label that is never predicted as 0, not NaN', () => {
    const m = classificationMetrics(['a', 'b'], [0, 1], [0, 0]);
    expect(m.perLabel[1]).toMatchObject({ precision: 0, recall: 0, f1: 0 });
    expect(Number.isNaN(m.macroF1)).toBe(false);
  });
});
