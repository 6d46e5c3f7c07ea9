import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { APP_CONFIG, GatewayConfig } from '@app/config';
import { initTracing, useObservability } from '@app/observability';
import { json } from 'express';
import { GatewayModule } from './gateway.module';
import { bodyParserErrors, JsonErrorFilter } from './http/json-error.filter';

async function bootstrap(): Promise<void> {
  initTracing('gateway');
  // Our own JSON parser, so that its size limit and parse errors answer in the API's error format.
  const app = await NestFactory.create<NestExpressApplication>(GatewayModule, { bodyParser: false, bufferLogs: true });
  // First, so that requests the parser refuses are timed and logged too.
  useObservability(app, 'gateway');
  const config = app.get<GatewayConfig>(APP_CONFIG);
  app.use(json({ limit: config.limits.maxBodyBytes, type: () => true }));
  app.use(bodyParserErrors);
  app.useGlobalFilters(new JsonErrorFilter());
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await app.listen(config.ports.gateway);
  new Logger('gateway').log(`gateway listening on http://localhost:${config.ports.gateway}`);
}

bootstrap().catch((error: unknown) => {
  new Logger('gateway').error(error instanceof Error ? error.stack : String(error));
  process.exit(1);
});
