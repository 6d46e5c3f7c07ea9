import { Inject, Injectable } from '@nestjs/common';
import type { Prediction, TokenizedText } from '@app/avro';
import { CLOCK, Clock } from '@app/config';
import type { ModelInfo } from '@app/model';
import type { BatchHandler } from '@app/stage';
import { CLASSIFIER, MODEL_INFO } from '../inference.constants';
import { buildPrediction, tokensProblem } from './prediction.builder';

/** What the handler needs of the model (an adapter: @app/model's OnnxClassifier, or a stub in tests). */
export interface Classifier {
  /** Batches that may run at once (one per session). */
  readonly concurrency: number;
  run(batch: number[][]): Promise<{ logits: number[][] }>;
}

export class InvalidTokensError extends Error {
  override readonly name = 'InvalidTokensError';
}

/** batch of tokenized records → their predictions. Batching, producing and the DLQ are the runtime's. */
@Injectable()
export class PredictHandler implements BatchHandler<'tokenized', 'prediction'> {
  readonly mode = 'batch';
  readonly concurrency: number;

  constructor(
    @Inject(MODEL_INFO) private readonly model: ModelInfo,
    @Inject(CLASSIFIER) private readonly classifier: Classifier,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.concurrency = classifier.concurrency;
  }

  lengthOf(record: TokenizedText): number {
    return record.inputIds.length;
  }

  reject(record: TokenizedText): Error | undefined {
    const problem = tokensProblem(record, this.model.vocabSize, this.model.maxLength);
    return problem ? new InvalidTokensError(problem) : undefined;
  }

  async run(records: TokenizedText[]): Promise<Prediction[]> {
    const { logits } = await this.classifier.run(records.map((r) => r.inputIds));
    const predictedAt = this.clock.now();
    return records.map((record, i) => buildPrediction(record, logits[i], this.model, records.length, predictedAt));
  }
}
