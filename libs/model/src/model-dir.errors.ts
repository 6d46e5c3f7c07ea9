/** A model directory that cannot be served: names the file and, when it applies, the field. */
export class ModelDirError extends Error {
  constructor(
    readonly file: string,
    readonly field: string | undefined,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`Invalid model directory: ${file}${field ? ` (${field})` : ''} ${reason}`, options);
    this.name = 'ModelDirError';
  }
}
