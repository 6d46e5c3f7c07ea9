import type { LoggerService } from '@nestjs/common';
import type { Counter } from 'prom-client';

export interface WarningLimiterOptions {
  /** Warnings logged per reason per window; the rest are counted. */
  perWindow: number;
  windowMs: number;
  now?: () => number;
  /** Counts the suppressed warnings by reason (log_warnings_suppressed_total). */
  suppressed?: Counter<'reason'>;
}

interface Window {
  startedAt: number;
  logged: number;
  suppressed: number;
}

/**
 * Warnings about bad input, rate-limited per reason so that a flood of junk cannot fill a disk:
 * at most `perWindow` lines per reason per window; the first line of the next window says how
 * many were suppressed in the last one.
 */
export class WarningLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly now: () => number;

  constructor(
    private readonly logger: Pick<LoggerService, 'warn'>,
    private readonly options: WarningLimiterOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  warn(reason: string, fields: Record<string, unknown> & { msg: string }): void {
    const now = this.now();
    let window = this.windows.get(reason);
    if (!window || now - window.startedAt >= this.options.windowMs) {
      const suppressedBefore = window?.suppressed ?? 0;
      window = { startedAt: now, logged: 0, suppressed: 0 };
      this.windows.set(reason, window);
      if (suppressedBefore > 0) fields = { ...fields, reason, suppressed: suppressedBefore };
    }
    if (window.logged >= this.options.perWindow) {
      window.suppressed += 1;
      this.options.suppressed?.inc({ reason });
      return;
    }
    window.logged += 1;
    this.logger.warn({ reason, ...fields });
  }
}
