import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { initTracing, useObservability } from '@app/observability';
import { APP_CONFIG, InferenceConfig } from '@app/config';
import { InferenceModule } from './inference.module';

async function bootstrap(): Promise<void> {
  initTracing('inference');
  // HTTP is for health and metrics only; the stage runtime (@app/stage) consumes tokenized in the background.
  const app = await NestFactory.create(InferenceModule, { bufferLogs: true });
  useObservability(app, 'inference');
  const config = app.get<InferenceConfig>(APP_CONFIG);
  const logger = new Logger('inference');
  // SIGTERM or SIGINT (Ctrl-C): the runtime drains (the batches running finish, outputs acked, offsets
  // committed) and leaves its group; then the process exits with 0.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  // Before the logger's own exit hook, which flushes its stream synchronously: the line is never lost.
  process.prependOnceListener('exit', (code) => logger.log(`stopped (exit code ${code})`));
  await app.listen(config.ports.inference, config.ports.host);
  logger.log(
    `${config.topics.tokenized} → ${config.topics.predictions} (batch ≤ ${config.batch.maxSize}, wait ≤ ${config.batch.maxWaitMs} ms, ≤ ${config.batch.maxTokens} tokens); health on :${config.ports.inference}`,
  );
}

bootstrap().catch((error: unknown) => {
  new Logger('inference').error(error instanceof Error ? error.stack : String(error));
  process.exit(1);
});
