import { EventEmitter } from 'node:events';
import type { NextFunction, Response } from 'express';
import { httpObservability, TracedRequest } from './http-observability';
import { MetricsService } from './metrics.service';
import { traceHeaders } from './tracing';

function request(path: string, headers: Record<string, string> = {}) {
  const req = { method: 'POST', path, headers } as unknown as TracedRequest;
  const res = Object.assign(new EventEmitter(), { statusCode: 200 }) as unknown as Response & EventEmitter;
  return { req, res };
}

describe('httpObservability', () => {
  it('times each request by method, matched route and status', async () => {
    const metrics = new MetricsService();
    const middleware = httpObservability(metrics, 'gateway');
    const { req, res } = request('/predict');
    const next = jest.fn() as NextFunction;
    middleware(req, res, next);
    expect(next).toHaveBeenCalled();
    (req as { route?: unknown }).route = { path: '/predict' };
    res.statusCode = 400;
    res.emit('finish');
    expect(await metrics.render()).toContain(
      'http_request_duration_seconds_count{method="POST",route="/predict",status="400"} 1',
    );
  });

  it('labels requests no route took as "(no route)", so that junk paths cannot grow the label set', async () => {
    const metrics = new MetricsService();
    const { req, res } = request('/random-junk-1234');
    httpObservability(metrics, 'gateway')(req, res, () => undefined);
    res.statusCode = 404;
    res.emit('finish');
    expect(await metrics.render()).toContain('route="(no route)",status="404"} 1');
  });

  it("continues the client's traceparent on the request's span", () => {
    const { req, res } = request('/predict', {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    });
    httpObservability(new MetricsService(), 'gateway')(req, res, () => undefined);
    expect(req.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(traceHeaders(req.span!).traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-/);
  });

  it('opens no span for /metrics and health probes', () => {
    const { req, res } = request('/metrics');
    httpObservability(new MetricsService(), 'gateway')(req, res, () => undefined);
    expect(req.span).toBeUndefined();
  });
});
