import { Logger } from '@nestjs/common';
import { backoffFor, errorMessage } from '@app/common';
import type { PartitionAssignorName } from '@app/config';
import { type Consumer, type ConsumerConfig, type ConsumerRunConfig, type Kafka, PartitionAssigners } from 'kafkajs';
import type { MemberLedger } from './member-ledger';
import { StickyAssigner } from './sticky.assigner';

/** What a consumer reports for readiness (docs/ARCHITECTURE.md, "Readiness"). */
export interface ConsumerHealth {
  /** A broker answered this consumer (fetch, heartbeat, join, commit) within the health window. */
  brokerReachable: boolean;
  /** The consumer has joined its group and is not rebalancing, crashed or stopped since. */
  member: boolean;
}

export interface ManagedConsumerOptions {
  groupId: string;
  topics: string[];
  fromBeginning: boolean;
  /** kafkajs consumer settings (session timeout, heartbeats, fetch sizes). */
  consumer: Omit<ConsumerConfig, 'groupId' | 'retry'>;
  /**
   * KAFKA_PARTITION_ASSIGNOR (docs/ARCHITECTURE.md, "The partition assignor"); it replaces `consumer.partitionAssigners`.
   * Sticky members also offer round robin, so that a group can be rolled from one to the other.
   */
  assignor?: PartitionAssignorName;
  /** The run config for one consumer instance; called again for each restart. */
  session: (consumer: Consumer) => Omit<ConsumerRunConfig, 'autoCommit'> & { autoCommit?: boolean };
  healthWindowMs: number;
  restartMaxBackoffMs: number;
  /**
   * Removes the member a killed process (or a crashed consumer of this one) left in the group before
   * joining, so that the rebalance does not wait for its session timeout (docs/ARCHITECTURE.md, "Restarts").
   */
  staleMembers?: {
    ledger: MemberLedger;
    remove: (groupId: string, memberId: string) => Promise<boolean>;
    /** How long joining may wait for the removal; past it, the stale member times out as before. */
    timeoutMs: number;
  };
  /** How long a fresh consumer may take to join its group before it is abandoned for another
   * (default: rebalance timeout + session timeout + 10 s). */
  joinTimeoutMs?: number;
  /** How long a crashed consumer may take to disconnect before it is abandoned (default: session timeout). */
  disconnectTimeoutMs?: number;
  logger?: Logger;
  now?: () => number;
}

const RESTART_INITIAL_BACKOFF_MS = 250;
// kafkajs's defaults, for the bounds below when the options leave them out.
const KAFKAJS_SESSION_TIMEOUT_MS = 30_000;
const KAFKAJS_REBALANCE_TIMEOUT_MS = 60_000;
const JOIN_MARGIN_MS = 10_000;

/** Why an instance was given up: it did not reach its group in time, or did not let go of it. */
class StuckError extends Error {}

/** `promise`, or a StuckError after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StuckError(`${what} did not settle within ${ms} ms`)), ms).unref();
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * One building block for every consumer of the project (the stages' and the gateway's reply
 * listener): connects, subscribes and runs a kafkajs consumer, and never gives up. kafkajs restarts
 * a crashed consumer only for retriable errors and after its own retry time (seen: 11.5 s after a
 * broker restart); here kafkajs's restart is off, and every crash is followed by a fresh consumer
 * after a backoff that doubles up to `restartMaxBackoffMs`, until stop().
 *
 * A kafkajs call can also never settle (seen after the group coordinator's broker was killed: a
 * restarted consumer went silent for good and its partitions stood still). So every instance must
 * reach GROUP_JOIN within `joinTimeoutMs` and an old one gets a bounded time to disconnect; an
 * instance that misses either is abandoned (its late batches and events are ignored, and it is
 * disconnected should it join after all) and a fresh one takes its place.
 */
export class ManagedConsumer {
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly joinTimeoutMs: number;
  private readonly disconnectTimeoutMs: number;
  private current?: Consumer;
  /** Where the current instance is in connect → subscribe → run → join, for the watchdog's message. */
  private step = '';
  private lastContact = Number.NEGATIVE_INFINITY;
  private member = false;
  private stopped = false;
  private failures = 0;
  private restarting = false;
  private restartTimer?: NodeJS.Timeout;
  private joinWatchdog?: NodeJS.Timeout;
  private starting?: Promise<void>;
  /** Removing a stale member before the next instance is created. */
  private launching = false;
  /** The member to remove before the next join: a former process's, then a crashed consumer's. */
  private staleMemberId?: string;
  private lastMemberId?: string;
  private removingStale?: Promise<void>;

  constructor(
    private readonly kafka: Kafka,
    private readonly options: ManagedConsumerOptions,
  ) {
    this.logger = options.logger ?? new Logger(`consumer ${options.groupId}`);
    this.now = options.now ?? Date.now;
    this.staleMemberId = options.staleMembers?.ledger.previous();
    const session = options.consumer.sessionTimeout ?? KAFKAJS_SESSION_TIMEOUT_MS;
    // A join legitimately waits up to the rebalance timeout for the group's other members.
    this.joinTimeoutMs =
      options.joinTimeoutMs ??
      (options.consumer.rebalanceTimeout ?? KAFKAJS_REBALANCE_TIMEOUT_MS) + session + JOIN_MARGIN_MS;
    this.disconnectTimeoutMs = options.disconnectTimeoutMs ?? session;
  }

  get health(): ConsumerHealth {
    return {
      brokerReachable: this.now() - this.lastContact <= this.options.healthWindowMs,
      member: this.member && !this.stopped,
    };
  }

  /** The kafkajs consumer running now, if any. */
  get consumer(): Consumer | undefined {
    return this.current;
  }

  /** Starts in the background; failures to connect are retried like crashes. */
  start(): void {
    if (this.stopped || this.current || this.launching) return;
    this.launch();
  }

  private launch(): void {
    this.starting = this.launchOnce();
  }

  /** A fresh kafkajs consumer becomes the current one, whatever became of the last. */
  private async launchOnce(): Promise<void> {
    if (this.removingStale || (this.staleMemberId && this.options.staleMembers)) {
      this.launching = true;
      try {
        await this.removeStaleMemberNow();
      } finally {
        this.removingStale = undefined;
        this.launching = false;
      }
      if (this.stopped) return;
    }
    const sticky = this.options.assignor === 'sticky' ? new StickyAssigner() : undefined;
    const consumer = this.kafka.consumer({
      ...this.options.consumer,
      ...(this.options.assignor && {
        partitionAssigners: sticky ? [sticky.assigner, PartitionAssigners.roundRobin] : [PartitionAssigners.roundRobin],
      }),
      groupId: this.options.groupId,
      // kafkajs's own restart is off: every crash is answered here, with a bounded backoff.
      retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 2_000, restartOnFailure: () => Promise.resolve(false) },
    });
    this.current = consumer;
    this.step = 'connect';
    const isCurrent = () => consumer === this.current;
    clearTimeout(this.joinWatchdog);
    this.joinWatchdog = setTimeout(() => {
      const stuck = new StuckError(`no group join within ${this.joinTimeoutMs} ms (stuck in ${this.step})`);
      this.scheduleRestart(consumer, stuck);
    }, this.joinTimeoutMs).unref();
    const contact = () => {
      if (isCurrent()) this.lastContact = this.now();
    };
    const { events } = consumer;
    consumer.on(events.FETCH, contact);
    consumer.on(events.HEARTBEAT, contact);
    consumer.on(events.COMMIT_OFFSETS, contact);
    consumer.on(events.GROUP_JOIN, ({ payload }) => {
      // What this instance owns now: its next join reports it, so the leader can leave it in place.
      sticky?.received(payload.memberAssignment);
      // Remembered even for an abandoned instance: should it crash, a restart removes it first.
      if (isCurrent()) this.rememberMember(payload.memberId);
      if (!isCurrent()) {
        // An abandoned instance that got there after all must not hold partitions: let it go.
        void within(consumer.disconnect(), this.disconnectTimeoutMs, 'abandoned consumer disconnect').catch(
          () => undefined,
        );
        return;
      }
      clearTimeout(this.joinWatchdog);
      contact();
      this.member = true;
      this.step = 'joined';
      if (this.failures > 0) {
        const partitions = Object.values(payload.memberAssignment).reduce((n, p) => n + p.length, 0);
        this.logger.log(`consumer back in group ${this.options.groupId} with ${partitions} partition(s)`);
      }
      this.failures = 0;
    });
    consumer.on(events.REBALANCING, () => {
      if (isCurrent()) this.member = false;
    });
    consumer.on(events.STOP, () => {
      if (isCurrent()) this.member = false;
    });
    consumer.on(events.CRASH, ({ payload }) => {
      if (!isCurrent()) return;
      this.member = false;
      this.scheduleRestart(consumer, payload.error);
    });
    await this.connectAndRun(consumer).catch((error: unknown) => this.scheduleRestart(consumer, error));
  }

  private async connectAndRun(consumer: Consumer): Promise<void> {
    const step = (name: string) => {
      if (consumer === this.current) this.step = name;
      this.logger.debug(`consumer ${this.options.groupId}: ${name}`);
    };
    step('connect');
    await consumer.connect();
    step('subscribe');
    await consumer.subscribe({ topics: this.options.topics, fromBeginning: this.options.fromBeginning });
    step('run (join and sync)');
    const config = this.options.session(consumer);
    // The batches of an instance that was abandoned are not taken: its successor reads them again.
    const { eachBatch, eachMessage } = config;
    await consumer.run({
      autoCommit: false,
      ...config,
      eachBatch: eachBatch && ((payload) => (consumer === this.current ? eachBatch(payload) : Promise.resolve())),
      eachMessage: eachMessage && ((payload) => (consumer === this.current ? eachMessage(payload) : Promise.resolve())),
    });
    step('running');
  }

  /**
   * Removes the member a former process left behind now, ahead of start() (which waits for it), so
   * that the removal overlaps the rest of the boot.
   */
  removeStaleMemberNow(): Promise<void> {
    return (this.removingStale ??= this.removeStaleMember());
  }

  /** A LeaveGroup for the member left behind, bounded in time; a failure only costs the wait it saves. */
  private async removeStaleMember(): Promise<void> {
    const stale = this.options.staleMembers;
    const memberId = this.staleMemberId;
    this.staleMemberId = undefined;
    if (!stale || !memberId) return;
    try {
      const removed = await within(stale.remove(this.options.groupId, memberId), stale.timeoutMs, 'the removal');
      this.logger.log(
        removed
          ? `removed member ${memberId}, left behind by a former consumer, from ${this.options.groupId}`
          : `member ${memberId} of a former consumer had already left ${this.options.groupId}`,
      );
    } catch (error) {
      this.logger.warn(`could not remove former member ${memberId} (${errorMessage(error)}); it will time out`);
    }
  }

  private rememberMember(memberId: string): void {
    // A crash of this consumer leaves this member behind: the restart removes it first.
    this.lastMemberId = memberId;
    try {
      this.options.staleMembers?.ledger.remember(memberId);
    } catch (error) {
      this.logger.warn(`could not record member id: ${errorMessage(error)}`);
    }
  }

  private scheduleRestart(consumer: Consumer, error: unknown): void {
    if (this.stopped || consumer !== this.current || this.restarting) return;
    this.restarting = true;
    this.member = false;
    clearTimeout(this.joinWatchdog);
    const wait = backoffFor(this.failures++, RESTART_INITIAL_BACKOFF_MS, this.options.restartMaxBackoffMs);
    this.logger.warn(`consumer stopped (${errorMessage(error)}); restarting in ${wait} ms`);
    this.staleMemberId = this.lastMemberId;
    this.lastMemberId = undefined;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      // A disconnect that hangs must not hold the restart back: the old instance is abandoned.
      void within(consumer.disconnect(), this.disconnectTimeoutMs, 'disconnect of the crashed consumer')
        .catch((failure: unknown) => {
          if (failure instanceof StuckError) this.logger.warn(`${failure.message}; abandoning it`);
        })
        .then(() => {
          this.restarting = false;
          if (!this.stopped) this.launch();
        });
    }, wait);
  }

  /** Stops for good: leaves the group (its partitions move on at once) and disconnects. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.member = false;
    clearTimeout(this.restartTimer);
    clearTimeout(this.joinWatchdog);
    // A start that never settles must not hold shutdown: it is cut short like a hung disconnect.
    await within(this.starting ?? Promise.resolve(), this.disconnectTimeoutMs, 'start').catch(() => undefined);
    const current = this.current;
    if (!current) return;
    await within(current.disconnect(), this.disconnectTimeoutMs, 'disconnect').then(
      () => this.logger.log(`left consumer group ${this.options.groupId}`),
      (error: unknown) => this.logger.warn(`disconnect failed: ${errorMessage(error)}`),
    );
  }
}
