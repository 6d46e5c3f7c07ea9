import { loadGatewayConfig } from '@app/config';
import { Logger } from '@nestjs/common';
import express, { json } from 'express';
import type { Server } from 'node:http';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiKeys, applyServerTimeouts, httpGuard, RateLimiter, verifyUtf8 } from './http-guard';
import { bodyParserErrors } from './json-error.filter';

const KEY = 'test-key-0123456789abcdef';

/** A real HTTP server with the gateway's guard and body parser in front of an echo route. */
async function serve(env: Record<string, string>): Promise<{ url: string; close: () => Promise<void> }> {
  const config = loadGatewayConfig(env);
  const app = express();
  app.use(...httpGuard(config, new Logger('test')));
  app.use(json({ limit: config.limits.maxBodyBytes, type: 'application/json', verify: verifyUtf8 }));
  app.use(bodyParserErrors);
  app.get(['/', '/health/live', '/health/ready', '/metrics'], (_req, res) => {
    res.json({ ok: true });
  });
  app.post('/predict', (req, res) => {
    res.json({ got: req.body as unknown });
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

const post = (url: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('httpGuard on a real HTTP server', () => {
  beforeAll(() => jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined));
  afterAll(() => jest.restoreAllMocks());

  describe('with API keys', () => {
    let srv: Awaited<ReturnType<typeof serve>>;
    beforeAll(async () => (srv = await serve({ GATEWAY_API_KEYS: KEY })));
    afterAll(() => srv.close());

    it('answers 401 without a key, 403 with a wrong one, 200 with a right one', async () => {
      const none = await post(`${srv.url}/predict`, '{"text":"a"}');
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await none.json()).toEqual({ error: 'unauthorized', message: expect.stringContaining('Bearer') });
      const wrong = await post(`${srv.url}/predict`, '{"text":"a"}', bearer('not-the-key-0123456789'));
      expect(wrong.status).toBe(403);
      expect(JSON.stringify(await wrong.json())).not.toContain('not-the-key');
      const right = await post(`${srv.url}/predict`, '{"text":"a"}', bearer(KEY));
      expect(right.status).toBe(200);
      expect(await right.json()).toEqual({ got: { text: 'a' } });
    });

    it('keeps /health/live and / open; /health/ready and /metrics ask for a key', async () => {
      expect((await fetch(`${srv.url}/health/live`)).status).toBe(200);
      expect((await fetch(`${srv.url}/`)).status).toBe(200);
      expect((await fetch(`${srv.url}/health/ready`)).status).toBe(401);
      expect((await fetch(`${srv.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${srv.url}/metrics`, { headers: bearer(KEY) })).status).toBe(200);
    });
  });

  describe('without keys (the default)', () => {
    let srv: Awaited<ReturnType<typeof serve>>;
    beforeAll(async () => (srv = await serve({})));
    afterAll(() => srv.close());

    it('requires application/json: text/plain, a form or no type answer 415', async () => {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
        const res = await post(`${srv.url}/predict`, '{"text":"a"}', { 'content-type': type });
        expect(res.status).toBe(415);
        expect(((await res.json()) as { error: string }).error).toBe('unsupported_media_type');
      }
      const charset = await post(`${srv.url}/predict`, '{"text":"a"}', {
        'content-type': 'application/json; charset=utf-8',
      });
      expect(charset.status).toBe(200);
    });

    it('answers invalid UTF-8 with 400 invalid_encoding instead of repairing it', async () => {
      const body = Buffer.concat([Buffer.from('{"text":"a'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
      const res = await post(`${srv.url}/predict`, body);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: 'invalid_encoding', message: 'request body is not valid UTF-8' });
    });

    it('never echoes the raw input in an error', async () => {
      const res = await post(`${srv.url}/predict`, '{"text": <script>SECRET-INPUT</script>');
      expect(res.status).toBe(400);
      const text = await res.text();
      expect(text).not.toContain('SECRET-INPUT');
      expect(text).not.toContain('<script>');
      expect(JSON.parse(text).error).toBe('invalid_json');
    });

    it('sets security headers and no CORS headers', async () => {
      const res = await fetch(`${srv.url}/health/live`, { headers: { origin: 'https://evil.example' } });
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    });
  });

  it('allows the configured CORS origins only, with preflight', async () => {
    const srv = await serve({ CORS_ORIGINS: 'https://app.example' });
    try {
      const ok = await fetch(`${srv.url}/predict`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
      });
      expect(ok.status).toBe(204);
      expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
      const other = await fetch(`${srv.url}/health/live`, { headers: { origin: 'https://evil.example' } });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await srv.close();
    }
  });

  it('rate-limits per key: over the burst answers 429 with Retry-After; /health/live is never limited', async () => {
    const srv = await serve({
      GATEWAY_API_KEYS: `${KEY},other-key-0123456789abcdef`,
      RATE_LIMIT_PER_SECOND: '1',
      RATE_LIMIT_BURST: '3',
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await post(`${srv.url}/predict`, '{"text":"a"}', bearer(KEY))).status);
      expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
      expect(statuses[4]).toBe(429);
      const limited = await post(`${srv.url}/predict`, '{"text":"a"}', bearer(KEY));
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await limited.json()) as { error: string }).error).toBe('too_many_requests');
      // Another key has its own bucket.
      expect((await post(`${srv.url}/predict`, '{"text":"a"}', bearer('other-key-0123456789abcdef'))).status).toBe(200);
      for (let i = 0; i < 5; i++) expect((await fetch(`${srv.url}/health/live`)).status).toBe(200);
    } finally {
      await srv.close();
    }
  });

  it('serves /metrics only on its own port when METRICS_PORT is set', async () => {
    const srv = await serve({ METRICS_PORT: '39999' });
    try {
      expect((await fetch(`${srv.url}/metrics`)).status).toBe(404);
    } finally {
      await srv.close();
    }
  });

  it('drops a client that never finishes its request (requestTimeout), answering 408', async () => {
    const config = loadGatewayConfig({ HTTP_HEADERS_TIMEOUT_MS: '300', HTTP_REQUEST_TIMEOUT_MS: '600' });
    const app = express();
    app.use(...httpGuard(config, new Logger('test')));
    // Node checks these timeouts every connectionsCheckingInterval; shortened here to keep the test short.
    const server = createServer({ connectionsCheckingInterval: 100 }, app);
    applyServerTimeouts(server, config);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const started = Date.now();
      const outcome = await new Promise<string>((resolve) => {
        const req = httpRequest({
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/predict',
          headers: { 'content-type': 'application/json', 'content-length': '1000' },
        });
        req.on('response', (res) => resolve(`status ${res.statusCode}`));
        req.on('error', (e) => resolve(`error ${e.message}`));
        req.flushHeaders();
        // Never sends the body: a slowloris.
      });
      expect(outcome).toMatch(/status 408|error socket hang up|ECONNRESET/);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r(undefined)));
    }
  });
});

describe('ApiKeys and RateLimiter', () => {
  it('gives a key id that does not reveal the key', () => {
    const keys = new ApiKeys([{ reveal: () => KEY }]);
    const result = keys.check(`Bearer ${KEY}`);
    expect(result).toEqual({ id: expect.stringMatching(/^key:[0-9a-f]{12}$/) });
    expect(JSON.stringify(result)).not.toContain(KEY);
    expect(keys.check('Basic abc')).toEqual({ missing: true });
  });

  it('refills at the configured rate', () => {
    let t = 0;
    const limiter = new RateLimiter(2, 2, () => t);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 1]);
    t = 500;
    expect(limiter.take('a')).toBe(0);
  });
});
