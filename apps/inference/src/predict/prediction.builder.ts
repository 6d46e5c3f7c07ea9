import type { Prediction, TokenizedText } from '@app/avro';
import { softmax } from '@app/model';

export interface ModelIdentity {
  name: string;
  version: string;
  labels: string[];
}

/** logits of one record → its prediction record (softmax over the model's id2label). */
export function buildPrediction(
  record: TokenizedText,
  logits: number[],
  model: ModelIdentity,
  batchSize: number,
  predictedAt: number,
): Prediction {
  const probs = softmax(logits);
  let best = 0;
  for (let i = 1; i < probs.length; i++) if (probs[i] > probs[best]) best = i;
  const scores: Record<string, number> = {};
  probs.forEach((p, i) => (scores[model.labels[i] ?? `LABEL_${i}`] = p));
  return {
    id: record.id,
    label: model.labels[best] ?? `LABEL_${best}`,
    score: probs[best],
    scores,
    model: model.name,
    modelVersion: model.version,
    createdAt: record.createdAt,
    tokenizedAt: record.tokenizedAt,
    predictedAt,
    batchSize,
    truncated: record.truncated,
    source: record.source,
    metadata: record.metadata,
  };
}

/** Why a tokenized record cannot be fed to this model, or undefined. */
export function tokensProblem(record: TokenizedText, vocabSize: number, maxLength: number): string | undefined {
  const ids = record.inputIds;
  if (ids.length === 0) return 'inputIds is empty';
  if (ids.length > maxLength) return `inputIds has ${ids.length} tokens, over the model's max length ${maxLength}`;
  if (record.tokenCount !== ids.length) return `tokenCount ${record.tokenCount} != inputIds length ${ids.length}`;
  const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= vocabSize);
  if (bad !== undefined) return `token id ${bad} is outside the vocabulary [0, ${vocabSize})`;
  return undefined;
}
