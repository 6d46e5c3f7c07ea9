import { ThrottledLog } from '@app/common';
import type { GatewayConfig } from '@app/config';
import { Logger } from '@nestjs/common';
import type { Request, RequestHandler, Response } from 'express';
import { isUtf8 } from 'node:buffer';
import type { Server } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';

/** Routes anyone may call: the liveness probe, and `/` (the gateway's page). */
const OPEN_PATHS = new Set(['/', '/health/live']);

type Rejection = { status: number; error: string; message: string; headers?: Record<string, string> };

function reject(res: Response, { status, error, message, headers }: Rejection): void {
  for (const [name, value] of Object.entries(headers ?? {})) res.setHeader(name, value);
  res.status(status).json({ error, message });
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** `Authorization: Bearer <key>` against the configured keys, in constant time per key. */
export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: { reveal(): string }[]) {
    this.digests = keys.map((k) => digest(k.reveal()));
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** The matching key's id (a digest prefix, safe to log and to rate-limit by), or why there is none. */
  check(header: string | undefined): { id: string } | { missing: true } | { wrong: true } {
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) return { missing: true };
    const given = digest(match[1]);
    let found: Buffer | undefined;
    for (const d of this.digests) if (timingSafeEqual(d, given)) found = d;
    return found ? { id: `key:${found.toString('hex').slice(0, 12)}` } : { wrong: true };
  }
}

/** Token buckets per client identity: `ratePerSecond` sustained, `burst` at once. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
    private readonly maxClients = 100_000,
  ) {}

  /** 0 when allowed; else the seconds to wait before the next request would be. */
  take(identity: string): number {
    const t = this.now();
    let bucket = this.buckets.get(identity);
    if (!bucket) {
      if (this.buckets.size >= this.maxClients) this.evictFull(t);
      bucket = { tokens: this.burst, at: t };
      this.buckets.set(identity, bucket);
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((t - bucket.at) / 1000) * this.ratePerSecond);
    bucket.at = t;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerSecond));
  }

  /** Forgets clients whose bucket has refilled (they lose nothing), so the map stays bounded. */
  private evictFull(t: number): void {
    for (const [id, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * this.ratePerSecond >= this.burst) this.buckets.delete(id);
    }
    if (this.buckets.size >= this.maxClients) this.buckets.clear();
  }
}

const clientAddress = (req: Request) => req.socket.remoteAddress ?? 'unknown';

/**
 * Everything in front of the routes, in order: security headers and CORS, API keys, the rate limit,
 * and the body's media type. Rejections are counted in a throttled log line (never the raw input).
 */
export function httpGuard(config: GatewayConfig, logger = new Logger('http')): RequestHandler[] {
  const keys = new ApiKeys(config.gateway.apiKeys);
  const limiter =
    config.gateway.rateLimitPerSecond > 0
      ? new RateLimiter(config.gateway.rateLimitPerSecond, config.gateway.rateLimitBurst)
      : undefined;
  const origins = new Set(config.gateway.corsOrigins);
  const rejected = new ThrottledLog((line) => logger.warn(line));

  const countRejections: RequestHandler = (req, res, next) => {
    res.on('finish', () => {
      if (res.statusCode >= 400 && res.statusCode < 500) {
        rejected.log(`answered ${res.statusCode} to ${req.method} ${req.path} from ${clientAddress(req)}`);
      }
    });
    next();
  };

  const headers: RequestHandler = (req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('X-Frame-Options', 'DENY');
    // The API answers JSON only; the page at `/` sets its own policy.
    if (req.path !== '/') res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    const origin = req.headers.origin;
    if (origin && origins.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      if (req.method === 'OPTIONS') {
        res.setHeader('Access-Control-Allow-Methods', 'GET, POST');
        res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
        res.setHeader('Access-Control-Max-Age', '600');
        res.status(204).end();
        return;
      }
    }
    next();
  };

  const access: RequestHandler = (req, res, next) => {
    if (req.path === '/metrics' && config.gateway.metricsPort !== 0) {
      return reject(res, { status: 404, error: 'not_found', message: 'no such route' });
    }
    const open = OPEN_PATHS.has(req.path) || (req.path === '/metrics' && !config.gateway.metricsRequireKey);
    const auth = keys.enabled && !open ? keys.check(req.headers.authorization) : undefined;
    const identity = auth && 'id' in auth ? auth.id : `addr:${clientAddress(req)}`;
    const wait = limiter && req.path !== '/health/live' ? limiter.take(identity) : 0;
    if (wait > 0) {
      return reject(res, {
        status: 429,
        error: 'too_many_requests',
        message: `over RATE_LIMIT_PER_SECOND=${config.gateway.rateLimitPerSecond}; retry after ${wait} s`,
        headers: { 'Retry-After': String(wait) },
      });
    }
    if (auth && 'missing' in auth) {
      return reject(res, {
        status: 401,
        error: 'unauthorized',
        message: 'an API key is required: Authorization: Bearer <key>',
        headers: { 'WWW-Authenticate': 'Bearer realm="gateway"' },
      });
    }
    if (auth && 'wrong' in auth) {
      return reject(res, { status: 403, error: 'forbidden', message: 'the API key is not valid' });
    }
    next();
  };

  // Only JSON bodies: a text/plain or form POST (which a browser sends cross-site without a CORS
  // preflight) is refused before it is read.
  const mediaType: RequestHandler = (req, res, next) => {
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    if ((req.method === 'POST' || req.method === 'PUT' || hasBody) && !req.is('application/json')) {
      return reject(res, {
        status: 415,
        error: 'unsupported_media_type',
        message: 'the body must be JSON, sent with Content-Type: application/json',
      });
    }
    next();
  };

  return [countRejections, headers, access, mediaType];
}

/** body-parser's `verify`: a body that is not valid UTF-8 is answered 400, not silently repaired. */
export function verifyUtf8(_req: unknown, _res: unknown, buf: Buffer): void {
  if (!isUtf8(buf)) {
    throw Object.assign(new Error('request body is not valid UTF-8'), { status: 400, type: 'encoding.invalid' });
  }
}

/**
 * Slow clients: headers must arrive within headersTimeout and the whole request within
 * requestTimeout (Node checks both every connectionsCheckingInterval, 30 s unless the server was
 * created with less); a socket silent for longer than any answer can take is closed at once; an idle
 * keep-alive connection is closed after keepAliveTimeout.
 */
export function applyServerTimeouts(server: Server, config: GatewayConfig): void {
  const { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, produceTimeoutMs } = config.gateway;
  server.headersTimeout = headersTimeoutMs;
  server.requestTimeout = requestTimeoutMs;
  server.keepAliveTimeout = keepAliveTimeoutMs;
  server.timeout = Math.max(requestTimeoutMs, config.limits.predictTimeoutMs + produceTimeoutMs + 5_000);
}
