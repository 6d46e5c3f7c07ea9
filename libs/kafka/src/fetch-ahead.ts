import type { Logger } from '@nestjs/common';
import type { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import { isRebalancing } from './kafka-errors';
import { CommitOffsets, OffsetTracker } from './offset-tracker';

/** How often a member that holds kafkajs back (backpressure, a delayed rejoin) heartbeats meanwhile. */
const KEEP_ALIVE_MS = 1_000;
const HOLD_POLL_MS = 20;
/**
 * How long before kafkajs's next heartbeat falls due an eachBatch stays to send that heartbeat
 * itself (see heartbeatBeforeReturning). It must cover what kafkajs does between this return and its
 * next fetch (its heartbeats for the fetch's empty partitions); the next fetch with records starts
 * with this member's own heartbeat. Each ms of it is a wait on the stream: at 100 ms of every 1 s
 * interval it was the 75 ms p99 of a hop under load (bench/README.md, the runs of 2026-12-05).
 */
const HEARTBEAT_LEAD_MS = 20;
/** kafkajs stamps its last heartbeat just after its HEARTBEAT event: aim a little after it falls due. */
const HEARTBEAT_SLACK_MS = 2;

export interface FetchAheadOptions {
  /** Records handed over and not yet acknowledged above which fetching stops (resumes below half). */
  maxInFlight: number;
  /** A rebalance: how long this member waits for its work in flight to be committed before it rejoins. */
  revokeTimeoutMs: number;
  /**
   * The consumer's heartbeatInterval. When given, an eachBatch that returns while work is in flight
   * and kafkajs's next heartbeat is due within HEARTBEAT_LEAD_MS waits and sends it itself.
   */
  heartbeatIntervalMs?: number;
  logger: Logger;
  /** Called when fetching stops and resumes for backpressure, for metrics. */
  onPaused?: (paused: boolean) => void;
  /**
   * Drops the queued records that can be dropped without a duplicate: those after every record of
   * their partition that has started (their work rejects with AbandonedError). Called when the
   * partitions are about to be given up (rebalance, SIGTERM), before waiting for the rest.
   */
  trimQueued?: () => void;
  /** Drops every queued record: when that wait timed out. */
  abandonQueued?: () => void;
  /**
   * Commits the finished offsets instead of `consumer.commitOffsets` (exactly-once mode: a
   * transaction that carries the outputs and the offsets, TransactionalOutputs.commit).
   */
  commit?: CommitOffsets;
  /** At least this long between two commits (OffsetTracker's minIntervalMs). */
  commitIntervalMs?: number;
  /** Called once the partitions were given up on a rebalance, before kafkajs rejoins. */
  onRevoked?: () => void;
  /**
   * Awaited before a partition's records are handed over (exactly-once: until its producer holds the
   * partition's id); may answer the partition's first offset to hand over, the records before it being
   * already committed (TransactionalOutputs.ready).
   */
  beforeHandle?: (topic: string, partition: number) => Promise<bigint | undefined | void>;
}

/**
 * The consuming half of at-least-once delivery for a stage that turns records into outputs.
 *
 * kafkajs fetches again only once every eachBatch of the last fetch has returned. Awaiting the
 * outputs' acks inside eachBatch would therefore leave the consumer idle during every produce
 * and model run. Here eachBatch only hands the records over and returns: the next fetch overlaps
 * the work, and the OffsetTracker commits each offset once its outputs are acknowledged.
 * Use with `autoCommit: false, eachBatchAutoResolve: false`.
 *
 * Commit on revoke: kafkajs 2 rebalances eagerly (every member gives up every partition and
 * rejoins). Each eachBatch heartbeats first; when that says the group is rebalancing, this member
 * stops taking records, drops what it can drop without a duplicate, waits (at most
 * revokeTimeoutMs) for the rest to be acknowledged and committed, and only then lets kafkajs
 * rejoin, so the partitions' next owners start after the work already done
 * (docs/ARCHITECTURE.md, "Rebalances").
 *
 * kafkajs heartbeats on its own too: after each batch and for each empty one, rate-limited to one
 * per heartbeatInterval by whoever calls first. If its own heartbeat is the one that meets the
 * rebalance outside an eachBatch, it rejoins at once, before the work in flight is committed, and
 * the partitions' next owners re-read it (duplicates). So while work is in flight, the heartbeat
 * that falls due is sent from inside eachBatch wherever possible (heartbeatBeforeReturning): kafkajs
 * fetches nothing more until every eachBatch of a fetch has returned, so nothing of kafkajs's can
 * rejoin first.
 */
export class FetchAhead {
  private readonly tracker: OffsetTracker;
  private inFlight = 0;
  /** eachBatch calls held back by backpressure right now. */
  private held = 0;
  private revoking?: Promise<void>;
  private stopped = false;
  /** When kafkajs last heartbeated successfully (its rate limit counts from then). */
  private lastBeat = Number.NEGATIVE_INFINITY;

  private consumer: Consumer;

  constructor(
    consumer: Consumer,
    private readonly options: FetchAheadOptions,
  ) {
    this.consumer = consumer;
    this.tracker = new OffsetTracker(
      options.commit ?? ((offsets) => this.consumer.commitOffsets(offsets)),
      (error) => options.logger.warn(`offset commit failed, will retry: ${(error as Error).message}`),
      undefined,
      options.commitIntervalMs,
    );
    this.attach(consumer);
  }

  /**
   * Carries on with a new consumer after the last one crashed (ManagedConsumer restarts). The work in
   * flight is kept: the new consumer re-reads from the last commit, the records still in flight or
   * done but not committed are recognised and skipped, and their commits go through the new consumer.
   */
  attach(consumer: Consumer): void {
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      if (consumer !== this.consumer) return;
      this.revoking = undefined;
      const assigned = Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) =>
        partitions.map((partition) => ({ topic, partition })),
      );
      this.tracker.retain(assigned);
    });
    consumer.on(consumer.events.HEARTBEAT, () => {
      if (consumer === this.consumer) this.lastBeat = Date.now();
    });
  }

  /** Records handed over whose outputs are not acknowledged yet. */
  get inFlightRecords(): number {
    return this.inFlight;
  }

  /**
   * The eachBatch handler: passes the batch's new records to `handle`, and returns without waiting.
   * `handle` answers one promise per record (or one for all), resolved once every output derived
   * from it is acknowledged. Per record, a partition's commit moves record by record, so a drain
   * can stop at any record rather than at the start of a fetched chunk.
   */
  async accept(
    payload: EachBatchPayload,
    handle: (messages: KafkaMessage[]) => Promise<void>[] | Promise<void>,
  ): Promise<void> {
    const { batch } = payload;
    // Giving the partitions up: nothing new is taken; kafkajs re-reads from the commit after the rejoin.
    // Returning only once that is done keeps kafkajs from rejoining before it (its next heartbeat fails).
    if (this.revoking) return this.revoking;
    if (this.stopped) return;
    await this.heartbeatOrRevoke(payload);
    const { topic, partition } = batch;
    // A rewind (seek) is pending for this partition: this batch will be fetched again from there.
    if (payload.isStale() || batch.messages.length === 0) return;
    const first = (await this.options.beforeHandle?.(topic, partition)) ?? 0n;
    if (this.revoking || this.stopped || payload.isStale()) return;
    // Offsets ascend within a batch: only one that starts below `first` holds records to skip.
    let messages = batch.messages;
    if (BigInt(messages[0].offset) < first) {
      messages = messages.filter((m) => BigInt(m.offset) >= first);
      this.options.logger.warn(
        `${topic}[${partition}]: skipped ${batch.messages.length - messages.length} record(s) below offset ${first}, committed after this member read its position (a transaction still in flight at the rejoin)`,
      );
    }
    // After a rejoin that kept this partition, kafkajs re-reads from the last commit: skip what is still in flight.
    const fresh = messages.filter((m) => !this.tracker.isDuplicate(topic, partition, m.offset));
    if (fresh.length > 0) {
      this.inFlight += fresh.length;
      const onFailed = (firstOffset: string, error: unknown) => {
        // Retried from its first record: duplicates of what followed are possible, losses are not.
        this.options.logger.error(
          `${topic}[${partition}]: processing failed, re-reading from ${firstOffset}: ${(error as Error).message}`,
        );
        this.consumer.seek({ topic, partition, offset: firstOffset });
      };
      let outcome: Promise<void>[] | Promise<void>;
      try {
        outcome = handle(fresh);
      } catch (error) {
        outcome = Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
      if (Array.isArray(outcome)) {
        const last = fresh.length - 1;
        fresh.forEach((m, i) => {
          const done = outcome[i].finally(() => (this.inFlight -= 1));
          this.tracker.track(topic, partition, m.offset, i === last ? batch.lastOffset() : m.offset, done, onFailed);
        });
      } else {
        const done = outcome.finally(() => (this.inFlight -= fresh.length));
        this.tracker.track(topic, partition, fresh[0].offset, batch.lastOffset(), done, onFailed);
      }
    }
    // Moves the fetch position past this batch; the tracker makes it durable once it is done.
    payload.resolveOffset(batch.lastOffset());
    await this.holdWhileFull(payload);
    await this.heartbeatBeforeReturning(payload);
  }

  /**
   * kafkajs heartbeats right after each eachBatch returns (and on each empty fetch) if the interval
   * has passed. While work is in flight, a heartbeat due within HEARTBEAT_LEAD_MS is therefore sent
   * from here instead, after waiting for it to fall due: a rebalance it meets is handled here
   * (commit, then rejoin), and kafkajs's own next call finds the interval not yet passed.
   */
  private async heartbeatBeforeReturning(payload: EachBatchPayload): Promise<void> {
    const interval = this.options.heartbeatIntervalMs;
    if (interval === undefined || this.revoking || this.stopped || this.tracker.idle) return;
    const dueIn = this.lastBeat + interval - Date.now();
    if (dueIn > HEARTBEAT_LEAD_MS) return;
    if (dueIn > -HEARTBEAT_SLACK_MS) await sleep(dueIn + HEARTBEAT_SLACK_MS);
    if (this.revoking || this.stopped) return;
    await this.heartbeatOrRevoke(payload);
  }

  private async heartbeatOrRevoke(payload: EachBatchPayload): Promise<void> {
    try {
      await payload.heartbeat();
    } catch (error) {
      if (isRebalancing(error)) await this.revoke(() => payload.heartbeat());
      // kafkajs rejoins (rebalance) or handles the error as it would have on its own heartbeat.
      throw error;
    }
  }

  /** Gives every partition up cleanly: commit what finishes in time, drop the rest. */
  revoke(heartbeat?: () => Promise<void>): Promise<void> {
    this.revoking ??= (async () => {
      const started = Date.now();
      // The broker drops a member that neither heartbeats nor rejoins within its session timeout, and
      // then refuses its commits: keep heartbeating (it answers "rebalancing") while waiting.
      const keepAlive = setInterval(() => void heartbeat?.().catch(() => undefined), KEEP_ALIVE_MS);
      const complete = await this.settle(this.options.revokeTimeoutMs).finally(() => clearInterval(keepAlive));
      this.tracker.clear();
      this.options.onRevoked?.();
      this.options.logger.log(
        `rebalance: in-flight work ${complete ? 'committed' : 'not all committed'} in ${Date.now() - started} ms; rejoining`,
      );
    })();
    return this.revoking;
  }

  /**
   * SIGTERM: stop fetching and wait until what is kept is acknowledged and committed. Returns false
   * if that took longer than `timeoutMs` (the rest will be re-read, not lost).
   */
  async drain(topics: string[], timeoutMs: number): Promise<boolean> {
    this.stopped = true;
    this.consumer.pause(topics.map((topic) => ({ topic })));
    const drained = await this.settle(timeoutMs);
    this.tracker.stop();
    return drained;
  }

  /**
   * Drops the queued records that nothing after them has overtaken (free: their next owner reads
   * them from the commit), waits for the rest, which fill the holes below records already done, to
   * be acknowledged and committed, and drops whatever is still queued when the time is up.
   * (Dropping every queued record at once would leave records that already ran beyond the commit.)
   */
  private async settle(timeoutMs: number): Promise<boolean> {
    this.options.trimQueued?.();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((res) => (timer = setTimeout(() => res(false), timeoutMs)));
    const settled = await Promise.race([this.tracker.drained().then(() => true as const), timedOut]);
    clearTimeout(timer);
    if (!settled) this.options.abandonQueued?.();
    return settled;
  }

  /**
   * Bounded memory whatever the input rate: above the high-water mark, eachBatch does not return
   * until the records in flight are below half of it, so kafkajs fetches nothing more. Meanwhile it
   * heartbeats itself; kafkajs, which heartbeats only between fetches, does not, so a rebalance is
   * seen here first and the member commits what it holds before rejoining. (Pausing the partitions
   * instead lets kafkajs spin on empty fetches, see the rebalance first and rejoin at once.)
   */
  private async holdWhileFull(payload: EachBatchPayload): Promise<void> {
    if (this.inFlight <= this.options.maxInFlight) return;
    if (this.held++ === 0) this.options.onPaused?.(true);
    try {
      let lastBeat = Date.now();
      while (this.inFlight > this.options.maxInFlight / 2 && !this.revoking && !this.stopped) {
        await sleep(HOLD_POLL_MS);
        if (Date.now() - lastBeat >= KEEP_ALIVE_MS) {
          lastBeat = Date.now();
          await this.heartbeatOrRevoke(payload);
        }
      }
    } finally {
      if (--this.held === 0) this.options.onPaused?.(false);
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
