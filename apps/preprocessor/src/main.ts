import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { logLevel, Partitioners } from 'kafkajs';
import { AvroDeserializer, SchemaRegistration } from '@app/avro';
import { APP_CONFIG, AppConfig } from '@app/config';
import { AvroKafkaServer, KafkaConnection } from '@app/kafka';
import { PreprocessorModule } from './preprocessor.module';
import { RAW_DESERIALIZER, RAW_PATTERN } from './preprocessor.constants';
import { TokenizeService } from './tokenize/tokenize.service';

async function bootstrap(): Promise<void> {
  // HTTP is for health and metrics only; the work arrives over Nest's Kafka transport.
  const app = await NestFactory.create(PreprocessorModule, { bufferLogs: false });
  const config = app.get<AppConfig>(APP_CONFIG);
  const logger = new Logger('preprocessor');
  // SIGTERM or SIGINT (Ctrl-C): Nest's shutdown hooks drain and disconnect, then the process exits with 0.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  process.once('exit', (code) => logger.log(`stopped (exit code ${code})`));
  await app.listen(config.ports.preprocessor);

  // Consume only once the outputs can be produced and encoded.
  await app.get(KafkaConnection).whenReady();
  await app.get(SchemaRegistration).whenRegistered();

  const server = new AvroKafkaServer(
    {
      client: {
        clientId: `${config.kafka.clientId}-preprocessor`,
        brokers: config.kafka.brokers,
        logLevel: logLevel.WARN,
      },
      consumer: {
        groupId: `${config.kafka.groupIdPrefix}preprocessor`,
        allowAutoTopicCreation: false,
        minBytes: config.kafka.fetchMinBytes,
        maxWaitTimeInMs: config.kafka.fetchMaxWaitMs,
      },
      producer: { createPartitioner: Partitioners.DefaultPartitioner },
      subscribe: { fromBeginning: true },
      run: { partitionsConsumedConcurrently: config.topics.partitions },
      parser: { keepBinary: true },
      postfixId: '',
      deserializer: app.get<AvroDeserializer<'raw'>>(RAW_DESERIALIZER),
    },
    { topicsByPattern: { [RAW_PATTERN]: config.topics.raw }, maxInFlight: 4096, drainTimeoutMs: 30_000 },
  );
  app.connectMicroservice({ strategy: server });
  // On a stop signal the server stops fetching and drains (outputs acked, offsets committed); produce retries end after that.
  const tokenize = app.get(TokenizeService);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => tokenize.stop());
  await app.startAllMicroservices();
  logger.log(`consuming ${config.topics.raw} → ${config.topics.tokenized}; health on :${config.ports.preprocessor}`);
}

bootstrap().catch((error) => {
  new Logger('preprocessor').error(error instanceof Error ? error.stack : String(error));
  process.exit(1);
});
