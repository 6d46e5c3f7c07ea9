import type { Prediction } from '@app/avro';

interface Waiter {
  resolve: (prediction: Prediction) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class ReplyTimeoutError extends Error {
  override readonly name = 'ReplyTimeoutError';
}

/** Request ids this gateway instance waits for, matched against the predictions topic. */
export class PendingReplies {
  private readonly waiters = new Map<string, Waiter>();

  get size(): number {
    return this.waiters.size;
  }

  has(id: string): boolean {
    return this.waiters.has(id);
  }

  /** Registered before the raw record is produced, so that a fast answer cannot be missed. */
  wait(id: string, timeoutMs: number): Promise<Prediction> {
    if (this.waiters.has(id)) return Promise.reject(new Error(`already waiting for ${id}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new ReplyTimeoutError(`no prediction for ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(id, { resolve, reject, timer });
    });
  }

  /** Delivers a prediction; duplicates (at-least-once) and other instances' ids are ignored. */
  deliver(prediction: Prediction): boolean {
    const waiter = this.waiters.get(prediction.id);
    if (!waiter) return false;
    clearTimeout(waiter.timer);
    this.waiters.delete(prediction.id);
    waiter.resolve(prediction);
    return true;
  }

  cancel(id: string, error: Error): void {
    const waiter = this.waiters.get(id);
    if (!waiter) return;
    clearTimeout(waiter.timer);
    this.waiters.delete(id);
    waiter.reject(error);
  }
}
