import {
  FactoryProvider,
  Global,
  Injectable,
  Logger,
  Module,
  OnApplicationShutdown,
  OnModuleInit,
} from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/config';
import { errorMessage, retry } from '@app/common';
import { AvroCodec } from './avro-codec';
import { AvroDeserializer } from './avro.deserializer';
import { AvroSerializer } from './avro.serializer';
import { RecordKind } from './records';
import { SchemaRegistryAdapter } from './schema-registry.adapter';

/** Registers the schemas in the background (retrying while the registry is down). */
@Injectable()
export class SchemaRegistration implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SchemaRegistration.name);
  private stopping = false;
  private done?: Promise<void>;

  constructor(private readonly codec: AvroCodec) {}

  onModuleInit(): void {
    this.done = retry(
      async () => {
        const ids = await this.codec.registerAll();
        this.logger.log(`schemas registered: ${JSON.stringify(ids)}`);
      },
      {
        retries: Infinity,
        initialBackoffMs: 250,
        maxBackoffMs: 5_000,
        isStopping: () => this.stopping,
        onRetry: (error, attempt, waitMs) =>
          this.logger.warn(`register schemas failed (${errorMessage(error)}); attempt ${attempt} in ${waitMs} ms`),
      },
    );
    this.done.catch(() => undefined);
  }

  whenRegistered(): Promise<void> {
    return this.done ?? Promise.reject(new Error('SchemaRegistration not initialised'));
  }

  get isRegistered(): boolean {
    return this.codec.registered;
  }

  onApplicationShutdown(): void {
    this.stopping = true;
  }
}

@Global()
@Module({
  providers: [
    {
      provide: SchemaRegistryAdapter,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => SchemaRegistryAdapter.fromConfig(config.registry),
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
    SchemaRegistration,
  ],
  exports: [SchemaRegistryAdapter, AvroCodec, SchemaRegistration],
})
export class AvroModule {}

/** A provider of the Nest serializer for one record kind, bound to the shared codec. */
export function avroSerializerProvider<K extends RecordKind>(
  token: symbol,
  kind: K,
): FactoryProvider<AvroSerializer<K>> {
  return { provide: token, inject: [AvroCodec], useFactory: (codec: AvroCodec) => new AvroSerializer(codec, kind) };
}

/** A provider of the Nest deserializer for one record kind, bound to the shared codec. */
export function avroDeserializerProvider<K extends RecordKind>(
  token: symbol,
  kind: K,
): FactoryProvider<AvroDeserializer<K>> {
  return { provide: token, inject: [AvroCodec], useFactory: (codec: AvroCodec) => new AvroDeserializer(codec, kind) };
}
