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
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await app.listen(config.ports.gateway);
  new Logger('gateway').log(`gateway listening on http://localhost:${config.ports.gateway}`);
}

bootstrap().catch((error: unknown) => {
  new Logger('gateway').error(error instanceof Error ? error.stack : String(error));
  process.exit(1);
});
