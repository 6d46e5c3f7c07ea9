/** A tokenizer.json that is missing, unreadable or not a tokenizer this library can reproduce. */
export class TokenizerLoadError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`Cannot load tokenizer ${file}: ${reason}`, options);
    this.name = 'TokenizerLoadError';
  }
}
