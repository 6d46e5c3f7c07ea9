export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** A function is only called on a time-out: a costly one (counting what was seen) then costs nothing per poll. */
  description?: string | (() => string);
}

/** Polls `check` until it returns a truthy value; fails with `description` after the timeout. No fixed sleeps. */
export async function waitFor<T>(check: () => T | Promise<T>, options: WaitForOptions = {}): Promise<NonNullable<T>> {
  const { timeoutMs = 30_000, intervalMs = 100, description = 'condition' } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const suffix = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      const what = typeof description === 'function' ? description() : description;
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${suffix}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
