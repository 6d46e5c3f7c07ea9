/** A raw record whose text cannot be classified. Permanent: it goes to the DLQ. */
export class InvalidTextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTextError';
  }
}

/** Why a text is refused, or undefined when it is fine. Shared reasoning with the gateway's 400s. */
export function textProblem(text: unknown, maxTextBytes: number): string | undefined {
  if (typeof text !== 'string') return 'text must be a string';
  if (text.trim().length === 0) return 'text is empty';
  if (hasLoneSurrogate(text))
    return 'text has a lone UTF-16 surrogate (\\uD800-\\uDFFF outside a pair), which is not valid Unicode';
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxTextBytes) return `text is ${bytes} bytes, over MAX_TEXT_BYTES=${maxTextBytes}`;
  return undefined;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** JSON's `"\\ud800"` escapes decode into strings that UTF-8 cannot carry (they would become U+FFFD). */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}
