import { Module } from '@nestjs/common';
import { avroDeserializerProvider, AvroModule, avroSerializerProvider, SchemaRegistration } from '@app/avro';
import { APP_CONFIG, AppConfig, ConfigModule } from '@app/config';
import { KafkaConnection, KafkaModule } from '@app/kafka';
import { loadModelInfo, ModelInfo } from '@app/model';
import { HealthController, ObservabilityModule, ReadinessCheck, readinessChecks } from '@app/observability';
import { TextTokenizer } from '@app/tokenizer';
import { MODEL_ID, RAW_DESERIALIZER, TOKENIZED_SERIALIZER } from './preprocessor.constants';
import { TokenizeController } from './tokenize/tokenize.controller';
import { TokenizeService } from './tokenize/tokenize.service';

const MODEL_INFO = Symbol('MODEL_INFO');

@Module({
  imports: [ConfigModule, KafkaModule, AvroModule, ObservabilityModule],
  controllers: [TokenizeController, HealthController],
  providers: [
    readinessChecks(
      [KafkaConnection, SchemaRegistration],
      (kafka: KafkaConnection, schemas: SchemaRegistration): ReadinessCheck[] => [
        { name: 'kafka', check: () => kafka.isReady },
        { name: 'schemas', check: () => schemas.isRegistered },
      ],
    ),
    TokenizeService,
    { provide: MODEL_INFO, inject: [APP_CONFIG], useFactory: (config: AppConfig) => loadModelInfo(config.model.dir) },
    { provide: MODEL_ID, inject: [MODEL_INFO], useFactory: (info: ModelInfo) => `${info.name}@${info.version}` },
    {
      provide: TextTokenizer,
      inject: [MODEL_INFO],
      useFactory: (info: ModelInfo) => TextTokenizer.fromFile(info.tokenizerPath, info.maxLength),
    },
    avroDeserializerProvider(RAW_DESERIALIZER, 'raw'),
    avroSerializerProvider(TOKENIZED_SERIALIZER, 'tokenized'),
  ],
  exports: [RAW_DESERIALIZER],
})
export class PreprocessorModule {}
