export interface LabelMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  /** How many examples have this true label. */
  support: number;
}

export interface ClassificationMetrics {
  n: number;
  accuracy: number;
  macroF1: number;
  perLabel: LabelMetrics[];
  /** confusion[true][predicted], indexed like the labels. */
  confusion: number[][];
}

/** Accuracy, macro-F1 and per-label precision/recall (scikit-learn's definitions, 0 when undefined). */
export function classificationMetrics(labels: string[], truth: number[], predicted: number[]): ClassificationMetrics {
  if (truth.length !== predicted.length)
    throw new Error(`${truth.length} true labels but ${predicted.length} predictions`);
  const confusion = labels.map(() => labels.map(() => 0));
  truth.forEach((t, i) => confusion[t][predicted[i]]++);
  const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
  const perLabel = labels.map((label, k) => {
    const tp = confusion[k][k];
    const support = confusion[k].reduce((a, b) => a + b, 0);
    const predictedK = confusion.reduce((a, row) => a + row[k], 0);
    const precision = ratio(tp, predictedK);
    const recall = ratio(tp, support);
    return { label, precision, recall, f1: ratio(2 * precision * recall, precision + recall), support };
  });
  const correct = labels.reduce((a, _l, k) => a + confusion[k][k], 0);
  return {
    n: truth.length,
    accuracy: ratio(correct, truth.length),
    macroF1: ratio(
      perLabel.reduce((a, m) => a + m.f1, 0),
      labels.length,
    ),
    perLabel,
    confusion,
  };
}
