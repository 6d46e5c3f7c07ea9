import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { initTracing, useObservability } from '@app/observability';
import { APP_CONFIG, PreprocessorConfig } from '@app/config';
import { PreprocessorModule } from './preprocessor.module';

async function bootstrap(): Promise<void> {
  initTracing('preprocessor');
  // HTTP is for health and metrics only; the stage runtime (@app/stage) consumes raw in the background.
  const app = await NestFactory.create(PreprocessorModule, { bufferLogs: true });
  useObservability(app, 'preprocessor');
  const config = app.get<PreprocessorConfig>(APP_CONFIG);
  const logger = new Logger('preprocessor');
  // SIGTERM or SIGINT (Ctrl-C): the runtime drains (outputs acked, offsets committed) and leaves its
  // group; then the process exits with 0.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  // Before the logger's own exit hook, which flushes its stream synchronously: the line is never lost.
  process.prependOnceListener('exit', (code) => logger.log(`stopped (exit code ${code})`));
  await app.listen(config.ports.preprocessor, config.ports.host);
  logger.log(`${config.topics.raw} → ${config.topics.tokenized}; health on :${config.ports.preprocessor}`);
}

bootstrap().catch((error: unknown) => {
  new Logger('preprocessor').error(error instanceof Error ? error.stack : String(error));
  process.exit(1);
});
