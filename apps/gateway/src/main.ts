import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { APP_CONFIG, GatewayConfig } from '@app/config';
import { initTracing, useObservability } from '@app/observability';
import { json } from 'express';
import { GatewayModule } from './gateway.module';
import { applyServerTimeouts, httpGuard, verifyUtf8 } from './http/http-guard';
import { bodyParserErrors, JsonErrorFilter } from './http/json-error.filter';
import { startMetricsServer } from './http/metrics-server';

async function bootstrap(): Promise<void> {
  initTracing('gateway');
  // Our own JSON parser, so that its size limit and parse errors answer in the API's error format.
  const app = await NestFactory.create<NestExpressApplication>(GatewayModule, { bodyParser: false, bufferLogs: true });
  // First, so that requests the parser refuses are timed and logged too.
  useObservability(app, 'gateway');
  const config = app.get<GatewayConfig>(APP_CONFIG);
  const logger = new Logger('gateway');
  app.disable('x-powered-by');
  // Headers, CORS, API keys, rate limit, media type (docs/security.md), then the body itself.
  app.use(...httpGuard(config));
  app.use(json({ limit: config.limits.maxBodyBytes, type: 'application/json', verify: verifyUtf8 }));
  app.use(bodyParserErrors);
  app.useGlobalFilters(new JsonErrorFilter());
  // SIGTERM or SIGINT (Ctrl-C): Nest's shutdown hooks close HTTP and Kafka, then the process exits with 0.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  // Before the logger's own exit hook, which flushes its stream synchronously: the line is never lost.
  process.prependOnceListener('exit', (code) => logger.log(`stopped (exit code ${code})`));
  applyServerTimeouts(app.getHttpServer(), config);
  await app.listen(config.ports.gateway, config.ports.host);
  if (config.gateway.metricsPort !== 0) {
    await startMetricsServer(app, config.gateway.metricsPort, config.ports.host);
    logger.log(`metrics on http://${config.ports.host}:${config.gateway.metricsPort}/metrics`);
  }
  logger.log(
    `gateway listening on http://${config.ports.host}:${config.ports.gateway}` +
      `${config.gateway.apiKeys.length > 0 ? ` (${config.gateway.apiKeys.length} API keys)` : ' (no API keys: open)'}`,
  );
}

bootstrap().catch((error: unknown) => {
  new Logger('gateway').error(error instanceof Error ? error.stack : String(error));
  process.exit(1);
});
