import {
  ArgumentsHost,
  BadRequestException,
  HttpException,
  HttpStatus,
  Logger,
  NotFoundException,
  PayloadTooLargeException,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { invalidInput, timedOut, unavailable } from './api-error';
import { bodyParserErrors, JsonErrorFilter } from './json-error.filter';

interface FakeResponse {
  statusCode: number;
  body: unknown;
  status: jest.Mock<FakeResponse, [number]>;
  json: jest.Mock<FakeResponse, [unknown]>;
}

function fakeResponse(): FakeResponse {
  const res: FakeResponse = {
    statusCode: 0,
    body: undefined,
    status: jest.fn((code: number) => {
      res.statusCode = code;
      return res;
    }),
    json: jest.fn((body: unknown) => {
      res.body = body;
      return res;
    }),
  };
  return res;
}

const hostFor = (res: FakeResponse) =>
  ({ switchToHttp: () => ({ getResponse: () => res, getRequest: () => ({}) }) }) as unknown as ArgumentsHost;

describe('bodyParserErrors', () => {
  const req = {} as Request;

  it('answers 413 payload_too_large for entity.too.large', () => {
    const res = fakeResponse();
    const next = jest.fn();
    bodyParserErrors({ type: 'entity.too.large', status: 413, limit: 1024 }, req, res as unknown as Response, next);
    expect(res.statusCode).toBe(413);
    expect(res.body).toEqual({ error: 'payload_too_large', message: expect.stringContaining('1024-byte limit') });
    expect(next).not.toHaveBeenCalled();
  });

  it('answers 400 for entity.parse.failed', () => {
    const res = fakeResponse();
    const next = jest.fn();
    const err = Object.assign(new SyntaxError('Unexpected token } in JSON at position 9'), {
      type: 'entity.parse.failed',
      status: 400,
    });
    bodyParserErrors(err, req, res as unknown as Response, next);
    expect(res.statusCode).toBe(400);
    // Only where it failed: JSON.parse's message may quote the input, which is never echoed back.
    expect(res.body).toEqual({ error: 'invalid_json', message: 'request body is not valid JSON (at byte 9)' });
    expect(next).not.toHaveBeenCalled();
  });

  it('answers other client errors with their status and code', () => {
    const res = fakeResponse();
    bodyParserErrors(
      { type: 'encoding.unsupported', status: 415, message: 'unsupported charset "X"' },
      req,
      res as unknown as Response,
      jest.fn(),
    );
    expect(res.statusCode).toBe(415);
    expect(res.body).toEqual({ error: 'unsupported_media_type', message: 'the body must be UTF-8 JSON' });
    const res2 = fakeResponse();
    bodyParserErrors(
      { type: 'request.aborted', status: 400, message: 'request aborted' },
      req,
      res2 as unknown as Response,
      jest.fn(),
    );
    expect(res2.statusCode).toBe(400);
    expect(res2.body).toEqual({ error: 'invalid_input', message: 'request aborted' });
  });

  it('passes through when there is no error, and hands server errors on', () => {
    const res = fakeResponse();
    const next = jest.fn<void, unknown[]>();
    bodyParserErrors(undefined, req, res as unknown as Response, next);
    expect(next).toHaveBeenCalledWith();
    const boom = Object.assign(new Error('boom'), { status: 500 });
    bodyParserErrors(boom, req, res as unknown as Response, next);
    expect(next).toHaveBeenLastCalledWith(boom);
    expect(res.status).not.toHaveBeenCalled();
  });
});

describe('JsonErrorFilter', () => {
  const filter = new JsonErrorFilter();

  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it.each([
    [invalidInput('texts[1] is empty'), 400, { error: 'invalid_input', message: 'texts[1] is empty' }],
    [unavailable('Kafka is unavailable'), 503, { error: 'unavailable', message: 'Kafka is unavailable' }],
    [timedOut('no prediction'), 504, { error: 'timeout', message: 'no prediction' }],
  ])('keeps the {error, message} body of an ApiError (%#)', (exception, status, body) => {
    const res = fakeResponse();
    filter.catch(exception, hostFor(res));
    expect(res.statusCode).toBe(status);
    expect(res.body).toEqual(body);
  });

  it("maps Nest's own NotFoundException to {error: 'not_found'} without echoing the path", () => {
    const res = fakeResponse();
    filter.catch(new NotFoundException('Cannot GET /<script>'), hostFor(res));
    expect(res.statusCode).toBe(404);
    expect(res.body).toEqual({ error: 'not_found', message: 'no such route' });
  });

  it('maps other Nest HTTP exceptions by status, dropping their statusCode body', () => {
    const res = fakeResponse();
    filter.catch(new PayloadTooLargeException(), hostFor(res));
    expect(res.statusCode).toBe(413);
    expect(res.body).toEqual({ error: 'payload_too_large', message: 'Payload Too Large' });
    expect(res.body).not.toHaveProperty('statusCode');

    const res2 = fakeResponse();
    filter.catch(new BadRequestException('nope'), hostFor(res2));
    expect(res2.body).toEqual({ error: 'invalid_input', message: 'nope' });
  });

  it('names a status without a code http_<status>', () => {
    const res = fakeResponse();
    filter.catch(new HttpException('teapot', HttpStatus.I_AM_A_TEAPOT), hostFor(res));
    expect(res.statusCode).toBe(418);
    expect(res.body).toEqual({ error: 'http_418', message: 'teapot' });
  });

  it('answers an unknown error 500 without its message or stack', () => {
    const res = fakeResponse();
    const secret = new Error('password=hunter2');
    filter.catch(secret, hostFor(res));
    expect(res.statusCode).toBe(500);
    expect(res.body).toEqual({ error: 'internal', message: 'internal error' });
    const text = JSON.stringify(res.body);
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('at ');
    expect(Logger.prototype.error).toHaveBeenCalledWith(secret.stack);
  });

  it('answers a thrown non-Error 500 too', () => {
    const res = fakeResponse();
    filter.catch('just a string', hostFor(res));
    expect(res.statusCode).toBe(500);
    expect(res.body).toEqual({ error: 'internal', message: 'internal error' });
  });
});
