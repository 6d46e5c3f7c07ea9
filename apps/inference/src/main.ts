import 'reflect-metadata';
import { InferenceConfig } from '@app/config';
import { bootstrapStage } from '@app/stage';
import { InferenceModule } from './inference.module';

void bootstrapStage<InferenceConfig>({
  name: 'inference',
  module: InferenceModule,
  describe: (config) =>
    `${config.topics.tokenized} → ${config.topics.predictions} (batch ≤ ${config.batch.maxSize}, wait ≤ ${config.batch.maxWaitMs} ms, ≤ ${config.batch.maxTokens} tokens)`,
});
