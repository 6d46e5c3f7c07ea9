import { HttpStatus } from '@nestjs/common';
import { ApiError } from '../http/api-error';
import { parseMany, parseSingle } from './predict-request';

/** The ApiError a call throws, or fails the test. */
function apiError(call: () => unknown): { status: number; body: { error: string; message: string } } {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    const e = error as ApiError;
    return { status: e.getStatus(), body: e.getResponse() as { error: string; message: string } };
  }
  throw new Error('expected an ApiError, nothing was thrown');
}

const MAX_BYTES = 20;

describe('parseSingle', () => {
  it('returns the text and its metadata', () => {
    expect(parseSingle({ text: 'hello', metadata: { tenant: 'acme' } }, MAX_BYTES)).toEqual({
      text: 'hello',
      metadata: { tenant: 'acme' },
    });
  });

  it('accepts a well-formed surrogate pair (an emoji)', () => {
    expect(parseSingle({ text: 'ok 😀' }, MAX_BYTES).text).toBe('ok 😀');
  });

  it('defaults metadata to {}', () => {
    expect(parseSingle({ text: 'hello' }, MAX_BYTES)).toEqual({ text: 'hello', metadata: {} });
  });

  it.each([
    ['null', null, 'body must be a JSON object {"text": "..."}'],
    ['an array', ['hello'], 'body must be a JSON object {"text": "..."}'],
    ['a string', 'hello', 'body must be a JSON object {"text": "..."}'],
    ['no text', {}, 'text is required'],
    ['a number text', { text: 42 }, 'text must be a string'],
    ['a null text', { text: null }, 'text must be a string'],
    ['an empty text', { text: '' }, 'text is empty'],
    ['a whitespace text', { text: ' \n\t ' }, 'text is empty'],
    ['a text over the byte limit', { text: '中'.repeat(7) }, 'text is 21 bytes, over MAX_TEXT_BYTES=20'],
    ['metadata that is a string', { text: 'a', metadata: 'x' }, 'metadata must be an object of string values'],
    ['metadata that is an array', { text: 'a', metadata: ['x'] }, 'metadata must be an object of string values'],
    ['metadata that is null', { text: 'a', metadata: null }, 'metadata must be an object of string values'],
    ['metadata with a number value', { text: 'a', metadata: { n: 1 } }, 'metadata must be an object of string values'],
    ['a lone surrogate in the text', { text: 'a\ud800b' }, expect.stringMatching(/^text has a lone UTF-16 surrogate/)],
    ['a lone low surrogate', { text: '\udc00' }, expect.stringMatching(/^text has a lone UTF-16 surrogate/)],
    ['a lone surrogate in metadata', { text: 'a', metadata: { k: '\ud800' } }, 'metadata has a lone UTF-16 surrogate'],
    [
      'too many metadata entries',
      { text: 'a', metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) },
      'metadata has 65 entries, over MAX_METADATA_ENTRIES=64',
    ],
    [
      'metadata over the byte bound',
      { text: 'a', metadata: { k: 'x'.repeat(16_384) } },
      'metadata is 16385 bytes, over MAX_METADATA_BYTES=16384',
    ],
  ])('answers 400 invalid_input for %s', (_name, body, message) => {
    const { status, body: answer } = apiError(() => parseSingle(body, MAX_BYTES));
    expect(status).toBe(HttpStatus.BAD_REQUEST);
    expect(answer).toEqual({ error: 'invalid_input', message });
  });
});

describe('parseMany', () => {
  it('returns every text, in order, with the shared metadata', () => {
    expect(parseMany({ texts: ['a', 'b'], metadata: { k: 'v' } }, MAX_BYTES, 10)).toEqual([
      { text: 'a', metadata: { k: 'v' } },
      { text: 'b', metadata: { k: 'v' } },
    ]);
  });

  it('accepts exactly the maximum number of texts', () => {
    expect(parseMany({ texts: ['a', 'b', 'c'] }, MAX_BYTES, 3)).toHaveLength(3);
  });

  it.each([
    ['null', null, 'body must be a JSON object {"texts": ["...", ...]}'],
    ['an array body', ['a'], 'body must be a JSON object {"texts": ["...", ...]}'],
    ['no texts', {}, 'texts must be an array of strings'],
    ['a string texts', { texts: 'a' }, 'texts must be an array of strings'],
    ['an empty texts', { texts: [] }, 'texts is empty'],
    ['too many texts', { texts: ['a', 'b', 'c', 'd'] }, 'texts has 4 items, over MAX_TEXTS_PER_REQUEST=3'],
    ['an empty second text', { texts: ['a', ''] }, 'texts[1] is empty'],
    ['a whitespace third text', { texts: ['a', 'b', '   '] }, 'texts[2] is empty'],
    ['a number first text', { texts: [1, 'b'] }, 'texts[0] must be a string'],
    ['a null second text', { texts: ['a', null] }, 'texts[1] must be a string'],
    ['a text over the byte limit', { texts: ['a', 'x'.repeat(21)] }, 'texts[1] is 21 bytes, over MAX_TEXT_BYTES=20'],
    ['bad metadata', { texts: ['a'], metadata: { n: true } }, 'metadata must be an object of string values'],
  ])('answers 400 invalid_input for %s', (_name, body, message) => {
    const { status, body: answer } = apiError(() => parseMany(body, MAX_BYTES, 3));
    expect(status).toBe(HttpStatus.BAD_REQUEST);
    expect(answer).toEqual({ error: 'invalid_input', message });
  });
});
