/**
 * The one retry primitive of the project. Every loop that tries something again (decoding while the
 * registry is down, producing while Kafka is down, registering schemas, restarting a consumer) is
 * this function with its own policy, so "what is retried, how often, how long between" reads the
 * same everywhere. Non-retriable errors are never retried (docs/ARCHITECTURE.md, "Faults").
 */
export interface RetryPolicy {
  /** Retries after the first attempt; Infinity retries until success or `isStopping()`. */
  retries: number;
  /** Wait before the first retry; doubles each time up to `maxBackoffMs`. */
  initialBackoffMs: number;
  maxBackoffMs?: number;
  /** Whether an error may go away by itself (broker or registry down). Others are thrown at once. */
  isRetriable?: (error: unknown) => boolean;
  /** Once true, the last error is thrown instead of waiting for another attempt (shutdown). */
  isStopping?: () => boolean;
  /** Told about each failed attempt that will be retried (for logging). */
  onRetry?: (error: unknown, attempt: number, waitMs: number) => void;
  sleep?: (ms: number) => Promise<void>;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The wait before retry number `attempt` (0-based): initial × 2^attempt, capped. */
export function backoffFor(attempt: number, initialMs: number, maxMs = Number.POSITIVE_INFINITY): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
}

export async function retry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  const wait = policy.sleep ?? sleep;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      const retriable = policy.isRetriable?.(error) ?? true;
      if (!retriable || attempt >= policy.retries || policy.isStopping?.()) throw error;
      const ms = backoffFor(attempt, policy.initialBackoffMs, policy.maxBackoffMs);
      policy.onRetry?.(error, attempt + 1, ms);
      await wait(ms);
      // Shutdown may have begun during the wait: do not start another attempt.
      if (policy.isStopping?.()) throw error;
    }
  }
}

/** An error's message whatever was thrown. */
export const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Anything thrown, as an Error. */
export const toError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));
