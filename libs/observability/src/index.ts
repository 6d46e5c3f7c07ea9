export * from './health.controller';
export * from './http-observability';
export * from './logging.module';
export * from './metrics.service';
export * from './observability.module';
export * from './readiness';
export * from './tracing';
export * from './warning-limiter';
