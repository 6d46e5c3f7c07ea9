/** One thing a service needs before it is ready (Kafka, the registry, the model...). */
export interface ReadinessCheck {
  name: string;
  check(): Promise<boolean> | boolean;
}

/** Injection token: the list of ReadinessChecks of a service. */
export const READINESS_CHECKS = Symbol('READINESS_CHECKS');
