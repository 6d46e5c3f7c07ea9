import { InvalidTextError, textProblem } from './text-rules';

describe('textProblem', () => {
  it('accepts a normal text', () => {
    expect(textProblem('Win a free phone now!', 100)).toBeUndefined();
  });

  it.each([
    ['a number', 42],
    ['null', null],
    ['undefined', undefined],
    ['an array', ['a']],
    ['an object', { text: 'a' }],
  ])('refuses %s: text must be a string', (_name, value) => {
    expect(textProblem(value, 100)).toBe('text must be a string');
  });

  it.each([
    ['empty', ''],
    ['spaces', '   '],
    ['tabs and newlines', '\t\n\r\n'],
    ['non-breaking and ideographic spaces', '\u00a0\u3000'],
  ])('refuses %s as empty', (_name, value) => {
    expect(textProblem(value, 100)).toBe('text is empty');
  });

  it('counts UTF-8 bytes, not characters: Chinese is 3 bytes a character', () => {
    expect('政治新闻'.length).toBe(4);
    expect(textProblem('政治新闻', 12)).toBeUndefined();
    expect(textProblem('政治新闻', 11)).toBe('text is 12 bytes, over MAX_TEXT_BYTES=11');
  });

  it('counts an emoji (a surrogate pair) as 4 bytes', () => {
    expect(textProblem('😀', 4)).toBeUndefined();
    expect(textProblem('😀', 3)).toBe('text is 4 bytes, over MAX_TEXT_BYTES=3');
  });

  it('accepts a text of exactly MAX_TEXT_BYTES and refuses one byte more', () => {
    expect(textProblem('a'.repeat(10), 10)).toBeUndefined();
    expect(textProblem('a'.repeat(11), 10)).toBe('text is 11 bytes, over MAX_TEXT_BYTES=10');
  });

  it('counts the surrounding whitespace of a non-empty text', () => {
    expect(textProblem('  ab  ', 5)).toBe('text is 6 bytes, over MAX_TEXT_BYTES=5');
  });
});

describe('InvalidTextError', () => {
  it('is an Error with its own name', () => {
    const error = new InvalidTextError('text is empty');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('InvalidTextError');
    expect(error.message).toBe('text is empty');
  });
});
