/**
 * kafkajs 2.2.4's RequestQueue re-arms a timer after every check of its pending requests, even
 * with nothing pending and no throttle: `throttledUntil - Date.now()` is negative, so every open
 * connection runs a setTimeout loop of about 1 ms for as long as it lives (tulios/kafkajs#1556 and
 * #1704, unreleased fixes in #1667 and #1703). On this project's 2-core bench that loop was most of
 * what an idle stage spends, and timer churn under load besides (docs/ARCHITECTURE.md, "Idle cost").
 *
 * The replacement schedules a check only while requests are pending: at the throttle's end if the
 * broker throttles, else after kafkajs's own 10 ms interval. Nothing else needs the timer: a request
 * pushed while none is pending and nothing throttles is sent at once, and every fulfilled or timed
 * out request checks the queue itself.
 */

/** The fields of kafkajs's RequestQueue (src/network/requestQueue) the replacement reads and sets. */
export interface RequestQueueState {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
}

/** kafkajs's CHECK_PENDING_REQUESTS_INTERVAL. */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

export function scheduleCheckPendingRequests(this: RequestQueueState): void {
  if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
  const throttledFor = this.throttledUntil - Date.now();
  this.throttleCheckTimeoutId = setTimeout(
    () => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    },
    throttledFor > 0 ? throttledFor : CHECK_PENDING_REQUESTS_INTERVAL_MS,
  );
}

let patched: boolean | undefined;

/**
 * Replaces RequestQueue#scheduleCheckPendingRequests in the kafkajs this process loaded, once.
 * Answers whether it did: only kafkajs 2.2.x with the method in place is patched.
 */
export function patchKafkajsIdleLoop(): boolean {
  if (patched !== undefined) return patched;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { version } = require('kafkajs/package.json') as { version: string };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const RequestQueue = require('kafkajs/src/network/requestQueue') as { prototype: Partial<RequestQueueState> };
  const proto = RequestQueue.prototype as Record<string, unknown>;
  patched = /^2\.2\./.test(version) && typeof proto.scheduleCheckPendingRequests === 'function';
  if (patched) proto.scheduleCheckPendingRequests = scheduleCheckPendingRequests;
  return patched;
}
