export * from './health.controller';
export * from './metrics.service';
export * from './observability.module';
export * from './readiness';
