import { Module } from '@nestjs/common';
import { AvroModule } from '@app/avro';
import { APP_CONFIG, ConfigModule, loadPreprocessorConfig, PreprocessorConfig } from '@app/config';
import { KafkaModule } from '@app/kafka';
import { loadModelInfo, ModelInfo } from '@app/model';
import { HealthController, ObservabilityModule } from '@app/observability';
import { StageModule } from '@app/stage';
import { TextTokenizer } from '@app/tokenizer';
import { MODEL_ID, MODEL_INFO } from './preprocessor.constants';
import { TokenizeHandler } from './tokenize/tokenize.handler';

@Module({
  imports: [
    ConfigModule.forApp(loadPreprocessorConfig),
    KafkaModule,
    AvroModule,
    ObservabilityModule.forService('preprocessor'),
    StageModule.forStage({
      name: 'preprocessor',
      input: 'raw',
      output: 'tokenized',
      inputTopic: (config) => config.topics.raw,
      outputTopic: (config) => config.topics.tokenized,
      handler: TokenizeHandler,
      providers: [
        {
          provide: MODEL_INFO,
          inject: [APP_CONFIG],
          useFactory: (config: PreprocessorConfig) => loadModelInfo(config.model.dir),
        },
        { provide: MODEL_ID, inject: [MODEL_INFO], useFactory: (info: ModelInfo) => `${info.name}@${info.version}` },
        {
          provide: TextTokenizer,
          inject: [MODEL_INFO],
          useFactory: (info: ModelInfo) => TextTokenizer.fromFile(info.tokenizerPath, info.maxLength),
        },
      ],
    }),
  ],
  controllers: [HealthController],
})
export class PreprocessorModule {}
