import 'reflect-metadata';
import { PreprocessorConfig } from '@app/config';
import { bootstrapStage } from '@app/stage';
import { PreprocessorModule } from './preprocessor.module';

void bootstrapStage<PreprocessorConfig>({
  name: 'preprocessor',
  module: PreprocessorModule,
  describe: (config) => `${config.topics.raw} → ${config.topics.tokenized}`,
});
