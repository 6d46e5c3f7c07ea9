import { HttpException, HttpStatus } from '@nestjs/common';

/** Every error the gateway answers is JSON {"error", "message"}: a stable code and a sentence. */
export class ApiError extends HttpException {
  constructor(
    status: HttpStatus,
    code: string,
    message: string,
    /** Sent as Retry-After (503 overloaded, 429). */
    readonly retryAfterSeconds?: number,
  ) {
    super({ error: code, message }, status);
  }
}

export const invalidInput = (message: string) => new ApiError(HttpStatus.BAD_REQUEST, 'invalid_input', message);
export const unavailable = (message: string) => new ApiError(HttpStatus.SERVICE_UNAVAILABLE, 'unavailable', message);
export const timedOut = (message: string) => new ApiError(HttpStatus.GATEWAY_TIMEOUT, 'timeout', message);
/** Load shedding: answered at once, so that clients back off instead of queueing until the timeout. */
export const overloaded = (message: string) => new ApiError(HttpStatus.SERVICE_UNAVAILABLE, 'overloaded', message, 1);
