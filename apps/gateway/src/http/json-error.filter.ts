import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { ApiError } from './api-error';

const CODES: Record<number, string> = {
  400: 'invalid_input',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  503: 'unavailable',
  504: 'timeout',
};

/** Maps any exception to {"error", "message"}; never leaks a stack trace. */
@Catch()
export class JsonErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      if (exception instanceof ApiError && exception.retryAfterSeconds !== undefined) {
        res.setHeader('Retry-After', String(exception.retryAfterSeconds));
      }
      if (
        typeof body === 'object' &&
        body &&
        'error' in body &&
        'message' in body &&
        typeof body.error === 'string' &&
        !('statusCode' in body)
      ) {
        res.status(status).json(body);
      } else if (status === 404) {
        // Nest's own message ("Cannot GET /…") would echo the request back.
        res.status(status).json({ error: 'not_found', message: 'no such route' });
      } else {
        res.status(status).json({ error: CODES[status] ?? `http_${status}`, message: exception.message });
      }
      return;
    }
    this.logger.error(exception instanceof Error ? exception.stack : String(exception));
    res.status(HttpStatus.INTERNAL_SERVER_ERROR).json({ error: 'internal', message: 'internal error' });
  }
}

/** Express error middleware for the body parser (it runs before Nest's filters can see anything). */
export function bodyParserErrors(error: unknown, _req: Request, res: Response, next: NextFunction): void {
  if (!error) return next();
  const err = error as { type?: string; limit?: number; message?: string; status?: number };
  if (err.type === 'entity.too.large') {
    res.status(413).json({
      error: 'payload_too_large',
      message: `request body is over the ${err.limit}-byte limit (MAX_BODY_BYTES)`,
    });
  } else if (err.type === 'entity.parse.failed') {
    // JSON.parse's message quotes the input: keep only where it failed.
    const position = /position (\d+)/.exec(String(err.message))?.[1];
    const where = position ? ` (at byte ${position})` : '';
    res.status(400).json({ error: 'invalid_json', message: `request body is not valid JSON${where}` });
  } else if (err.type === 'encoding.invalid') {
    res.status(400).json({ error: 'invalid_encoding', message: 'request body is not valid UTF-8' });
  } else if (err.type === 'charset.unsupported' || err.type === 'encoding.unsupported') {
    res.status(415).json({ error: 'unsupported_media_type', message: 'the body must be UTF-8 JSON' });
  } else if (err.status && err.status < 500) {
    res.status(err.status).json({ error: CODES[err.status] ?? `http_${err.status}`, message: err.message });
  } else {
    next(error);
  }
}
