import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { Response } from 'express';
import { MetricsService } from './metrics.service';
import { READINESS_CHECKS, ReadinessCheck } from './readiness';

/**
 * /health/live, /health/ready (run by @nestjs/terminus, answered in this project's own shape:
 * `{status: "ready" | "not_ready", checks: {name: "up" | "down"}}`, 200 or 503) and /metrics.
 */
@Controller()
export class HealthController {
  constructor(
    @Inject(READINESS_CHECKS) private readonly checks: ReadinessCheck[],
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly metrics: MetricsService,
  ) {}

  @Get('health/live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('health/ready')
  async ready(@Res() res: Response): Promise<void> {
    const states = await this.states();
    const ready = Object.values(states).every((s) => s === 'up');
    res.status(ready ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE).json({
      status: ready ? 'ready' : 'not_ready',
      checks: states,
    });
  }

  @Get('metrics')
  async metricsText(@Res() res: Response): Promise<void> {
    res.type(this.metrics.contentType()).send(await this.metrics.render());
  }

  /** Each readiness check's state, as terminus reports it (a check that throws is down). */
  states(): Promise<Record<string, 'up' | 'down'>> {
    return readinessStates(this.checks, this.health, this.indicators);
  }
}

/** Runs the checks through terminus: each one's state (a check that throws is down). */
export async function readinessStates(
  checks: ReadinessCheck[],
  health: HealthCheckService,
  indicators: HealthIndicatorService,
): Promise<Record<string, 'up' | 'down'>> {
  const run = checks.map((c) => async () => {
    const indicator = indicators.check(c.name);
    const ok = await Promise.resolve()
      .then(() => c.check())
      .catch(() => false);
    return ok ? indicator.up() : indicator.down();
  });
  const result = await health.check(run).catch((error: unknown) => {
    // terminus answers a failed check by throwing a 503 carrying the full result.
    const body = (error as { getResponse?: () => unknown }).getResponse?.();
    if (body && typeof body === 'object' && 'details' in body)
      return body as { details: Record<string, { status: string }> };
    throw error;
  });
  return Object.fromEntries(
    checks.map((c) => [c.name, result.details[c.name]?.status === 'up' ? 'up' : 'down'] as const),
  );
}
