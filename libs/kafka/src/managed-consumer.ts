import { Logger } from '@nestjs/common';
import { backoffFor, errorMessage } from '@app/common';
import type { Consumer, ConsumerConfig, ConsumerRunConfig, Kafka } from 'kafkajs';
import type { MemberLedger } from './member-ledger';

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
  logger?: Logger;
  now?: () => number;
}

const RESTART_INITIAL_BACKOFF_MS = 250;

/**
 * One building block for every consumer of the project (the stages' and the gateway's reply
 * listener): connects, subscribes and runs a kafkajs consumer, and never gives up. kafkajs restarts
 * a crashed consumer only for retriable errors and after its own retry time (seen: 11.5 s after a
 * broker restart); here kafkajs's restart is off, and every crash is followed by a fresh consumer
 * after a backoff that doubles up to `restartMaxBackoffMs`, until stop().
 */
export class ManagedConsumer {
  private readonly logger: Logger;
  private readonly now: () => number;
  private current?: Consumer;
  private lastContact = Number.NEGATIVE_INFINITY;
  private member = false;
  private stopped = false;
  private failures = 0;
  private restartTimer?: NodeJS.Timeout;
  private starting?: Promise<void>;
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
    if (this.stopped || this.starting) return;
    this.starting = this.startOnce().finally(() => (this.starting = undefined));
  }

  private async startOnce(): Promise<void> {
    if (this.removingStale || (this.staleMemberId && this.options.staleMembers)) {
      await this.removeStaleMemberNow();
      this.removingStale = undefined;
      if (this.stopped) return;
    }
    const consumer = this.kafka.consumer({
      ...this.options.consumer,
      groupId: this.options.groupId,
      // kafkajs's own restart is off: every crash is answered here, with a bounded backoff.
      retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 2_000, restartOnFailure: () => Promise.resolve(false) },
    });
    this.current = consumer;
    const contact = () => (this.lastContact = this.now());
    const { events } = consumer;
    consumer.on(events.FETCH, contact);
    consumer.on(events.HEARTBEAT, contact);
    consumer.on(events.COMMIT_OFFSETS, contact);
    consumer.on(events.GROUP_JOIN, ({ payload }) => {
      contact();
      this.member = true;
      this.failures = 0;
      this.rememberMember(payload.memberId);
    });
    consumer.on(events.REBALANCING, () => (this.member = false));
    consumer.on(events.STOP, () => (this.member = false));
    consumer.on(events.CRASH, ({ payload }) => {
      this.member = false;
      this.scheduleRestart(consumer, payload.error);
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: this.options.topics, fromBeginning: this.options.fromBeginning });
      await consumer.run({ autoCommit: false, ...this.options.session(consumer) });
    } catch (error) {
      this.scheduleRestart(consumer, error);
    }
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
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${stale.timeoutMs} ms`)), stale.timeoutMs);
    });
    try {
      const removed = await Promise.race([stale.remove(this.options.groupId, memberId), timedOut]);
      this.logger.log(
        removed
          ? `removed member ${memberId}, left behind by a former consumer, from ${this.options.groupId}`
          : `member ${memberId} of a former consumer had already left ${this.options.groupId}`,
      );
    } catch (error) {
      this.logger.warn(`could not remove former member ${memberId} (${errorMessage(error)}); it will time out`);
    } finally {
      clearTimeout(timer);
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
    if (this.stopped || consumer !== this.current || this.restartTimer) return;
    const wait = backoffFor(this.failures++, RESTART_INITIAL_BACKOFF_MS, this.options.restartMaxBackoffMs);
    this.logger.warn(`consumer stopped (${errorMessage(error)}); restarting in ${wait} ms`);
    this.staleMemberId = this.lastMemberId;
    this.lastMemberId = undefined;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void consumer
        .disconnect()
        .catch(() => undefined)
        .then(() => this.start());
    }, wait);
  }

  /** Stops for good: leaves the group (its partitions move on at once) and disconnects. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.member = false;
    clearTimeout(this.restartTimer);
    await this.starting?.catch(() => undefined);
    const current = this.current;
    if (!current) return;
    await current.disconnect().then(
      () => this.logger.log(`left consumer group ${this.options.groupId}`),
      (error: unknown) => this.logger.warn(`disconnect failed: ${errorMessage(error)}`),
    );
  }
}
