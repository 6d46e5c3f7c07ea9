export interface RetryPolicy {
  maxRetries: number;
  backoffMs: number;
  isTransient: (error: unknown) => boolean;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn`, retrying only transient failures, at most `maxRetries` times with exponential backoff.
 * A permanent failure, or the last transient one, is rethrown for the caller to dead-letter.
 */
export async function withRetries<T>(fn: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  const sleep = policy.sleep ?? defaultSleep;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!policy.isTransient(error) || attempt >= policy.maxRetries) throw error;
      await sleep(policy.backoffMs * 2 ** attempt);
    }
  }
}

export interface RetryForeverOptions {
  what: string;
  logger: { warn(message: string): void; log(message: string): void };
  isStopping: () => boolean;
  maxBackoffMs?: number;
}

/** Retries `fn` with capped backoff until it succeeds or the process starts stopping. */
export async function retryForever(fn: () => Promise<void>, options: RetryForeverOptions): Promise<void> {
  const maxBackoffMs = options.maxBackoffMs ?? 5_000;
  for (let attempt = 0; ; attempt++) {
    try {
      await fn();
      if (attempt > 0) options.logger.log(`${options.what}: done after ${attempt + 1} attempts`);
      return;
    } catch (error) {
      if (options.isStopping()) throw error;
      const wait = Math.min(maxBackoffMs, 250 * 2 ** attempt);
      options.logger.warn(`${options.what} failed (${(error as Error).message}); retrying in ${wait} ms`);
      await new Promise((resolve) => setTimeout(resolve, wait));
      // Shutdown may have begun during the wait: do not start another attempt.
      if (options.isStopping()) throw error;
    }
  }
}
