import { HttpException, HttpStatus } from '@nestjs/common';

/** Every error the gateway answers is JSON {"error", "message"}: a stable code and a sentence. */
export class ApiError extends HttpException {
  constructor(status: HttpStatus, code: string, message: string) {
    super({ error: code, message }, status);
  }
}

export const invalidInput = (message: string) => new ApiError(HttpStatus.BAD_REQUEST, 'invalid_input', message);
export const unavailable = (message: string) => new ApiError(HttpStatus.SERVICE_UNAVAILABLE, 'unavailable', message);
export const timedOut = (message: string) => new ApiError(HttpStatus.GATEWAY_TIMEOUT, 'timeout', message);
