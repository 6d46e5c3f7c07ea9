import { FactoryProvider, Global, Module } from '@nestjs/common';
import { MetricsService } from './metrics.service';
import { READINESS_CHECKS, ReadinessCheck } from './readiness';

/**
 * MetricsService for the whole app. Each app adds HealthController to its own controllers and
 * provides its checks with `readinessChecks(...)`, since they depend on the app's own providers.
 */
@Global()
@Module({ providers: [MetricsService], exports: [MetricsService] })
export class ObservabilityModule {}

export function readinessChecks(
  inject: NonNullable<FactoryProvider['inject']>,
  useFactory: FactoryProvider<ReadinessCheck[]>['useFactory'],
): FactoryProvider<ReadinessCheck[]> {
  return { provide: READINESS_CHECKS, inject, useFactory };
}
