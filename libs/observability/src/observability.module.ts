import {
  DynamicModule,
  FactoryProvider,
  Global,
  INestApplication,
  Module,
  OnApplicationShutdown,
} from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { Logger as PinoNestLogger } from 'nestjs-pino';
import { httpObservability } from './http-observability';
import { loggingModule } from './logging.module';
import { MetricsService } from './metrics.service';
import { READINESS_CHECKS, ReadinessCheck } from './readiness';
import { shutdownTracing } from './tracing';

/**
 * Metrics (prom-client), structured logs (pino) and terminus for the health checks, for the whole
 * app: `ObservabilityModule.forService('gateway')`. Each app adds HealthController to its own
 * controllers and provides its checks with `readinessChecks(...)`, since they depend on the app's
 * own providers. main.ts calls `initTracing(name)` first and `useObservability(app, name)` after create.
 */
@Global()
@Module({})
export class ObservabilityModule implements OnApplicationShutdown {
  static forService(service: string): DynamicModule {
    return {
      module: ObservabilityModule,
      imports: [TerminusModule.forRoot({ logger: false }), loggingModule(service)],
      providers: [MetricsService],
      exports: [MetricsService, TerminusModule],
    };
  }

  // Spans not exported yet are flushed (a no-op without OTEL_EXPORTER_OTLP_ENDPOINT).
  async onApplicationShutdown(): Promise<void> {
    await shutdownTracing();
  }
}

/** The app's logger becomes pino's; every HTTP request is timed and (for the API) traced. */
export function useObservability(app: INestApplication, service: string): void {
  app.useLogger(app.get(PinoNestLogger));
  app.use(httpObservability(app.get(MetricsService), service));
}

export function readinessChecks(
  inject: NonNullable<FactoryProvider['inject']>,
  useFactory: (...deps: never[]) => ReadinessCheck[],
): FactoryProvider<ReadinessCheck[]> {
  return { provide: READINESS_CHECKS, inject, useFactory: useFactory as (...deps: unknown[]) => ReadinessCheck[] };
}
