import { DynamicModule, FactoryProvider, Module } from '@nestjs/common';
import { HealthController } from './health.controller';
import { MetricsService } from './metrics.service';
import { READINESS_CHECKS, ReadinessCheck } from './readiness';

/** /health/live, /health/ready and /metrics for a service; `checks` provides its ReadinessCheck[]. */
@Module({})
export class ObservabilityModule {
  static forRoot(checks: {
    inject: NonNullable<FactoryProvider['inject']>;
    useFactory: (...deps: any[]) => ReadinessCheck[];
  }): DynamicModule {
    return {
      module: ObservabilityModule,
      global: true,
      controllers: [HealthController],
      providers: [MetricsService, { provide: READINESS_CHECKS, ...checks }],
      exports: [MetricsService],
    };
  }
}
