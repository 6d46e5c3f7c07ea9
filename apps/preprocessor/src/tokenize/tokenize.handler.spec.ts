import { InvalidTextError } from '@app/common';
import type { PreprocessorConfig } from '@app/config';
import { FakeClock, rawText } from '@app/testing';
import type { TextTokenizer } from '@app/tokenizer';
import { TokenizeHandler } from './tokenize.handler';

/** A tokenizer stand-in: one id per word between [CLS] and [SEP], truncated after 4 tokens. */
const tokenizer = {
  encode: (text: string) => {
    const ids = [101, ...text.split(/\s+/).map((w) => 1000 + w.length), 102];
    return { inputIds: ids.slice(0, 4), tokenCount: Math.min(ids.length, 4), truncated: ids.length > 4 };
  },
} as unknown as TextTokenizer;

function setup() {
  const clock = new FakeClock(5_000);
  const config = { limits: { maxTextBytes: 20 } } as PreprocessorConfig;
  return { handler: new TokenizeHandler(config, clock, 'model@7', tokenizer), clock };
}

describe('TokenizeHandler', () => {
  it('turns a raw record into a tokenized one, carrying its id, creation time, source and metadata', () => {
    const { handler } = setup();
    const raw = rawText({ text: 'hi there', createdAt: 1_000, source: 'app', metadata: { tenant: 'a' } });
    expect(handler.handle(raw)).toEqual({
      id: raw.id,
      inputIds: [101, 1002, 1005, 102],
      tokenCount: 4,
      truncated: false,
      tokenizer: 'model@7',
      createdAt: 1_000,
      tokenizedAt: 5_000,
      source: 'app',
      metadata: { tenant: 'a' },
    });
  });

  it('says when the tokenizer truncated the text', () => {
    const { handler } = setup();
    expect(handler.handle(rawText({ text: 'a b c d e' })).truncated).toBe(true);
  });

  it.each([
    ['an empty text', '   ', /empty/],
    ['a text over MAX_TEXT_BYTES', 'x'.repeat(21), /over MAX_TEXT_BYTES=20/],
  ])('refuses %s with InvalidTextError (the runtime dead-letters it)', (_case, text, message) => {
    const { handler } = setup();
    expect(() => handler.handle(rawText({ text }))).toThrow(InvalidTextError);
    expect(() => handler.handle(rawText({ text }))).toThrow(message);
  });
});
