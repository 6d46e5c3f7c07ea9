import { inspect } from 'node:util';

/**
 * A secret read from the environment or a file. Its value comes out only through `reveal()`; logging,
 * JSON or string interpolation of the object (or of a config holding it) prints `[redacted]`.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '[redacted]';
  }

  toJSON(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return '[redacted]';
  }
}

/** `https://user:pass@host/x?token=…` → `https://***@host/x?token=***`: for any URL that reaches a log. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const hadUser = parsed.username !== '' || parsed.password !== '';
    parsed.username = '';
    parsed.password = '';
    for (const key of [...parsed.searchParams.keys()]) parsed.searchParams.set(key, '***');
    const text = parsed.toString();
    return hadUser ? text.replace('://', '://***@') : text;
  } catch {
    return '[unparseable URL]';
  }
}
