import { Logger, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { APP_CONFIG, StageConfig } from '@app/config';
import { initTracing, useObservability } from '@app/observability';

export interface StageMain<C extends StageConfig> {
  name: 'preprocessor' | 'inference';
  module: Type<unknown>;
  /** The startup line: what flows where, with the settings an operator looks for first. */
  describe: (config: C) => string;
}

/**
 * The whole `main.ts` of a stage, so both stages start, log and stop the same way. HTTP serves
 * health and metrics only; the stage runtime consumes in the background.
 */
export async function bootstrapStage<C extends StageConfig>({ name, module, describe }: StageMain<C>): Promise<void> {
  const logger = new Logger(name);
  try {
    initTracing(name);
    const app = await NestFactory.create(module, { bufferLogs: true });
    useObservability(app, name);
    const config = app.get<C>(APP_CONFIG);
    // SIGTERM or SIGINT (Ctrl-C): the runtime drains (work in flight finishes, outputs acked, offsets
    // committed) and leaves its group; then the process exits with 0.
    app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
    // Before the logger's own exit hook, which flushes its stream synchronously: the line is never lost.
    process.prependOnceListener('exit', (code) => logger.log(`stopped (exit code ${code})`));
    const port = config.ports[name];
    await app.listen(port, config.ports.host);
    logger.log(`${describe(config)}; health on :${port}`);
  } catch (error: unknown) {
    logger.error(error instanceof Error ? error.stack : String(error));
    process.exit(1);
  }
}
