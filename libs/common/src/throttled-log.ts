/**
 * At most one line per window for a repeated event, with the count of the ones it held back, so that
 * a flood of bad input is visible in the log without filling it.
 */
export class ThrottledLog {
  private lastAt = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(
    private readonly write: (line: string) => void,
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  log(line: string): void {
    const t = this.now();
    if (t - this.lastAt < this.windowMs) {
      this.suppressed++;
      return;
    }
    const held = this.suppressed;
    this.suppressed = 0;
    this.lastAt = t;
    this.write(held > 0 ? `${line} (and ${held} more like it since the last such line)` : line);
  }
}
