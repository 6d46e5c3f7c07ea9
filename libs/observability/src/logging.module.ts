import { DynamicModule } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { LoggerModule } from 'nestjs-pino';
import type { Options } from 'pino-http';

export type LogFormat = 'json' | 'pretty';
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LoggingOptions {
  format: LogFormat;
  level: string;
}

/** LOG_FORMAT (`json`, the default, or `pretty` for a terminal) and LOG_LEVEL (`info`), validated at boot. */
export function loggingOptions(env: NodeJS.ProcessEnv = process.env): LoggingOptions {
  const format = (env.LOG_FORMAT ?? 'json').trim() || 'json';
  if (format !== 'json' && format !== 'pretty') throw new Error(`LOG_FORMAT must be json or pretty, got "${format}"`);
  const level = (env.LOG_LEVEL ?? 'info').trim() || 'info';
  if (!LEVELS.includes(level)) throw new Error(`LOG_LEVEL must be one of ${LEVELS.join(', ')}, got "${level}"`);
  return { format, level };
}

// Polled often and not about a record: logging each would drown the lines that matter.
const QUIET_ROUTES = /^\/(metrics|health\/|v1\/status|$|index\.html|app\.js|style\.css|favicon)/;

/**
 * Structured logs: JSON lines via pino (nestjs-pino), one line per HTTP request on the gateway with
 * its request id and trace id, and every Nest Logger call routed through the same pino logger.
 */
export function loggingModule(service: string, options: LoggingOptions = loggingOptions()): DynamicModule {
  const pinoHttp: Options = {
    level: options.level,
    base: { service },
    messageKey: 'msg',
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && given.length > 0 && given.length <= 200 ? given : randomUUID();
      res.setHeader('x-request-id', id);
      return id;
    },
    // Every line about a request says its request id and trace id.
    customProps: (req: IncomingMessage) => {
      const { id, traceId } = req as IncomingMessage & { id?: unknown; traceId?: string };
      return { requestId: id, traceId };
    },
    autoLogging: { ignore: (req: IncomingMessage) => QUIET_ROUTES.test(req.url ?? '') },
    serializers: {
      req: (req: { method: string; url: string }) => ({ method: req.method, url: req.url }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    transport:
      options.format === 'pretty'
        ? {
            // Resolved here: pino resolves a bare name from its caller, which fails for some callers.
            target: require.resolve('pino-pretty'),
            options: {
              colorize: true,
              translateTime: 'SYS:HH:MM:ss.l',
              ignore: 'pid,hostname,service,context',
              messageFormat: '{service} {if context}[{context}] {end}{msg}',
            },
          }
        : undefined,
  };
  return LoggerModule.forRoot({ pinoHttp, renameContext: 'context' });
}
