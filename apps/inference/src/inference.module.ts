import { Module } from '@nestjs/common';
import { AvroModule } from '@app/avro';
import { APP_CONFIG, ConfigModule, InferenceConfig, loadInferenceConfig } from '@app/config';
import { KafkaModule } from '@app/kafka';
import { loadModelInfo, ModelInfo, OnnxClassifier } from '@app/model';
import { HealthController, ObservabilityModule } from '@app/observability';
import { StageModule } from '@app/stage';
import { CLASSIFIER, MODEL_INFO } from './inference.constants';
import { PredictHandler } from './predict/predict.handler';

@Module({
  imports: [
    ConfigModule.forApp(loadInferenceConfig),
    KafkaModule,
    AvroModule,
    ObservabilityModule.forService('inference'),
    StageModule.forStage({
      name: 'inference',
      endToEnd: true,
      replies: true,
      input: 'tokenized',
      output: 'prediction',
      inputTopic: (config) => config.topics.tokenized,
      outputTopic: (config) => config.topics.predictions,
      handler: PredictHandler,
      providers: [
        {
          provide: MODEL_INFO,
          inject: [APP_CONFIG],
          useFactory: (config: InferenceConfig) => loadModelInfo(config.model.dir),
        },
        {
          provide: CLASSIFIER,
          inject: [MODEL_INFO, APP_CONFIG],
          useFactory: (info: ModelInfo, config: InferenceConfig) => OnnxClassifier.create(info, config.inference),
        },
      ],
    }),
  ],
  controllers: [HealthController],
})
export class InferenceModule {}
