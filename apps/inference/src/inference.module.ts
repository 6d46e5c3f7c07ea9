import { Module } from '@nestjs/common';
import { avroDeserializerProvider, AvroModule, avroSerializerProvider, SchemaRegistration } from '@app/avro';
import { APP_CONFIG, AppConfig, ConfigModule } from '@app/config';
import { KafkaConnection, KafkaModule } from '@app/kafka';
import { loadModelInfo, ModelInfo, OnnxClassifier } from '@app/model';
import { HealthController, ObservabilityModule, ReadinessCheck, readinessChecks } from '@app/observability';
import { TokenizedConsumer } from './consumer/tokenized.consumer';
import { CLASSIFIER, MODEL_INFO, PREDICTION_SERIALIZER, TOKENIZED_DESERIALIZER } from './inference.constants';
import { InferenceService } from './predict/inference.service';

@Module({
  imports: [ConfigModule, KafkaModule, AvroModule, ObservabilityModule],
  controllers: [HealthController],
  providers: [
    readinessChecks(
      [KafkaConnection, SchemaRegistration, TokenizedConsumer],
      (kafka: KafkaConnection, schemas: SchemaRegistration, consumer: TokenizedConsumer): ReadinessCheck[] => [
        { name: 'kafka', check: () => kafka.isReady },
        { name: 'schemas', check: () => schemas.isRegistered },
        { name: 'consumer', check: () => consumer.isJoined },
      ],
    ),
    InferenceService,
    TokenizedConsumer,
    { provide: MODEL_INFO, inject: [APP_CONFIG], useFactory: (config: AppConfig) => loadModelInfo(config.model.dir) },
    {
      provide: CLASSIFIER,
      inject: [MODEL_INFO, APP_CONFIG],
      useFactory: (info: ModelInfo, config: AppConfig) => OnnxClassifier.create(info, config.inference),
    },
    avroDeserializerProvider(TOKENIZED_DESERIALIZER, 'tokenized'),
    avroSerializerProvider(PREDICTION_SERIALIZER, 'prediction'),
  ],
  exports: [TokenizedConsumer],
})
export class InferenceModule {}
