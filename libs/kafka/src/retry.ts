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
