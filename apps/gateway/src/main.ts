import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { APP_CONFIG, GatewayConfig } from '@app/config';
import { json } from 'express';
import { GatewayModule } from './gateway.module';
import { bodyParserErrors, JsonErrorFilter } from './http/json-error.filter';

async function bootstrap(): Promise<void> {
  // Our own JSON parser, so that its size limit and parse errors answer in the API's error format.
  const app = await NestFactory.create<NestExpressApplication>(GatewayModule, { bodyParser: false });
  const config = app.get<GatewayConfig>(APP_CONFIG);
  app.use(json({ limit: config.limits.maxBodyBytes, type: () => true }));
  app.use(bodyParserErrors);
  app.useGlobalFilters(new JsonErrorFilter());
  const logger = new Logger('gateway');
  // SIGTERM or SIGINT (Ctrl-C): Nest's shutdown hooks close HTTP and Kafka, then the process exits with 0.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  process.once('exit', (code) => logger.log(`stopped (exit code ${code})`));
  await app.listen(config.ports.gateway);
  logger.log(`gateway listening on http://localhost:${config.ports.gateway}`);
}

bootstrap().catch((error: unknown) => {
  new Logger('gateway').error(error instanceof Error ? error.stack : String(error));
  process.exit(1);
});
