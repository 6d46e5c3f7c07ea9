import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';
import { AvroCodec } from './avro-codec';
import { SchemaRegistryAdapter } from './schema-registry.adapter';

@Global()
@Module({
  providers: [
    {
      provide: SchemaRegistryAdapter,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => new SchemaRegistryAdapter(config.registry.url),
    },
    {
      provide: AvroCodec,
      inject: [SchemaRegistryAdapter, APP_CONFIG],
      useFactory: (registry: SchemaRegistryAdapter, config: AppConfig) =>
        new AvroCodec(registry, {
          raw: config.topics.raw,
          tokenized: config.topics.tokenized,
          prediction: config.topics.predictions,
        }),
    },
  ],
  exports: [SchemaRegistryAdapter, AvroCodec],
})
export class AvroModule {}
