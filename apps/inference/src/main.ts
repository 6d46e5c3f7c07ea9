import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SchemaRegistration } from '@app/avro';
import { APP_CONFIG, AppConfig } from '@app/config';
import { KafkaConnection } from '@app/kafka';
import { TokenizedConsumer } from './consumer/tokenized.consumer';
import { InferenceModule } from './inference.module';

async function bootstrap(): Promise<void> {
  // HTTP is for health and metrics only; the work arrives from the tokenized topic.
  const app = await NestFactory.create(InferenceModule);
  const config = app.get<AppConfig>(APP_CONFIG);
  const logger = new Logger('inference');
  // SIGTERM or SIGINT (Ctrl-C): Nest's shutdown hooks drain and disconnect, then the process exits with 0.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  process.once('exit', (code) => logger.log(`stopped (exit code ${code})`));
  await app.listen(config.ports.inference);
  await app.get(KafkaConnection).whenReady();
  await app.get(SchemaRegistration).whenRegistered();
  await app.get(TokenizedConsumer).start();
  logger.log(
    `consuming ${config.topics.tokenized} → ${config.topics.predictions} (batch ≤ ${config.batch.maxSize}, wait ≤ ${config.batch.maxWaitMs} ms, ≤ ${config.batch.maxTokens} tokens); health on :${config.ports.inference}`,
  );
}

bootstrap().catch((error) => {
  new Logger('inference').error(error instanceof Error ? error.stack : String(error));
  process.exit(1);
});
