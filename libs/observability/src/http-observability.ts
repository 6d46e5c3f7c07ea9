import type { Span } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';
import type { MetricsService } from './metrics.service';
import { endSpan, StageTracer, traceIdOf } from './tracing';

/** What the middleware leaves on a request: its span (whose context the gateway puts on its records). */
export interface TracedRequest extends Request {
  span?: Span;
  traceId?: string;
}

// Paths polled by dashboards and probes get no span: they are not about a record.
const UNTRACED = /^\/(metrics|health\/|v1\/status)/;

/**
 * Express middleware: `http_request_duration_seconds` by method, route and status for every request,
 * and a server span per API request that continues the client's `traceparent` when it sent one.
 */
export function httpObservability(metrics: MetricsService, service: string) {
  const tracer = new StageTracer(service);
  return (req: TracedRequest, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    const span = UNTRACED.test(req.path) ? undefined : tracer.startRequest(`${req.method} ${req.path}`, req.headers);
    if (span) {
      req.span = span;
      req.traceId = traceIdOf(span);
    }
    res.once('finish', () => {
      // Only matched routes name themselves: a path of a request no route took (404, a body refused
      // before routing) would make the label set unbounded.
      const route = (req.route as { path?: string } | undefined)?.path ?? '(no route)';
      metrics.httpDuration.observe(
        { method: req.method, route, status: String(res.statusCode) },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
      if (span) {
        span.setAttribute('http.response.status_code', res.statusCode);
        span.updateName(`${req.method} ${route}`);
        endSpan(span, res.statusCode >= 500 ? new Error(`HTTP ${res.statusCode}`) : undefined);
      }
    });
    next();
  };
}
