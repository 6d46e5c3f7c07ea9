import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { AvroCodec, AvroDeserializer, AvroSerializer, RecordKind, SchemaRegistration } from '@app/avro';
import { RecordSigner } from '@app/common';
import { APP_CONFIG, CLOCK, Clock, InferenceConfig, StageConfig } from '@app/config';
import {
  dlqTopicFor,
  FetchAhead,
  FileMemberLedger,
  GroupMembershipAdapter,
  GroupOffsetsAdapter,
  KAFKA_CLIENT,
  KafkaConnection,
  KafkaProducerAdapter,
  ManagedConsumer,
  trackedPartitioner,
  TransactionalOutputs,
} from '@app/kafka';
import { endSpan, MetricsService, ReadinessCheck, StageTracer, traceHeaders } from '@app/observability';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { ConsumerLag } from './consumer-lag';
import { decodeWithRetry } from './decode-with-retry';
import { OutputWriter } from './output-writer';
import type { ReplyTopic } from './reply-route';
import { BatchPipeline, Decoded, Pipeline, RecordPipeline } from './pipelines';
import { STAGE_HANDLER, STAGE_OPTIONS, StageHandler, StageOptions } from './stage.types';

/**
 * The one runtime every consuming stage shares (docs/ARCHITECTURE.md). It owns the consumer and
 * its options, fetch-ahead and backpressure, decoding with the retry policy, DLQ routing,
 * producing, committing, the drain on SIGTERM/SIGINT, and readiness. The app supplies only its
 * handler: record → output (preprocessor) or batch → outputs (inference).
 */
@Injectable()
export class StageRuntime<In extends RecordKind, Out extends RecordKind>
  implements OnApplicationBootstrap, OnModuleDestroy, BeforeApplicationShutdown
{
  private readonly logger: Logger;
  private readonly consumer: ManagedConsumer;
  private readonly deserializer: AvroDeserializer<In>;
  private readonly writer: OutputWriter;
  private readonly pipeline: Pipeline<In>;
  private readonly inputTopic: string;
  private fetchAhead?: FetchAhead;
  /** Exactly-once mode: the per-partition transactional producers. */
  private readonly transactional?: TransactionalOutputs;
  /** Exactly-once: where a newly assigned partition's handling starts (TransactionalOutputs.ready). */
  private readonly groupOffsets?: GroupOffsetsAdapter;
  private fenced = false;
  private readonly tracer: StageTracer;
  private readonly lag?: ConsumerLag;
  private draining = false;
  private paused = false;
  /** The replies topic this stage answers on; its partition count is read from the cluster at boot. */
  private readonly replies?: ReplyTopic;
  /** Partitions of the input topic this member holds (for stage_paused_partitions). */
  private assigned = 0;

  constructor(
    @Inject(STAGE_OPTIONS) private readonly options: StageOptions<In, Out>,
    @Inject(STAGE_HANDLER) handler: StageHandler<In, Out>,
    @Inject(APP_CONFIG) private readonly config: StageConfig,
    @Inject(KAFKA_CLIENT) private readonly kafka: Kafka,
    @Inject(CLOCK) clock: Clock,
    codec: AvroCodec,
    producer: KafkaProducerAdapter,
    private readonly connection: KafkaConnection,
    private readonly schemas: SchemaRegistration,
    private readonly metrics: MetricsService,
  ) {
    const { name } = options;
    this.logger = new Logger(name);
    this.tracer = new StageTracer(name);
    this.inputTopic = options.inputTopic(config);
    this.deserializer = new AvroDeserializer(codec, options.input);
    const groupId = `${config.kafka.groupIdPrefix}${name}`;
    if (config.stage.delivery === 'exactly-once') {
      const offsets = (this.groupOffsets = new GroupOffsetsAdapter(kafka, groupId));
      this.transactional = new TransactionalOutputs({
        groupId,
        createProducer: (transactionalId) =>
          kafka.producer({
            transactionalId,
            idempotent: true,
            maxInFlightRequests: 1,
            allowAutoTopicCreation: true,
            createPartitioner: trackedPartitioner,
          }),
        logger: this.logger,
        onFenced: (where, error) => this.onFenced(where, error),
        committedOffset: (topic, partition) => offsets.committed(topic, partition),
      });
    }
    this.writer = new OutputWriter(producer, {
      transactional: this.transactional,
      maxMessageBytes: config.kafka.maxMessageBytes,
      stage: name,
      dlqTopic: dlqTopicFor(this.inputTopic),
      dlqTruncatedValueBytes: config.delivery.dlqTruncatedValueBytes,
      logger: this.logger,
      clock,
      metrics,
    });
    const ctx = {
      stage: name,
      outputTopic: options.outputTopic(config),
      serializer: new AvroSerializer(
        codec,
        options.output,
        config.signingKey ? new RecordSigner(config.signingKey.reveal()) : undefined,
      ),
      writer: this.writer,
      metrics,
      tracer: this.tracer,
      clock,
      endToEnd: options.endToEnd ?? false,
      replies: options.replies
        ? { topic: config.topics.replies, partitions: config.topics.replyPartitions }
        : undefined,
    };
    this.replies = ctx.replies;
    this.pipeline =
      handler.mode === 'record'
        ? new RecordPipeline(handler, ctx)
        : new BatchPipeline(handler, (config as InferenceConfig).batch, ctx);
    const k = config.kafka;
    this.consumer = new ManagedConsumer(kafka, {
      groupId,
      topics: [this.inputTopic],
      fromBeginning: true,
      consumer: {
        allowAutoTopicCreation: false,
        sessionTimeout: k.sessionTimeoutMs,
        heartbeatInterval: k.heartbeatIntervalMs,
        rebalanceTimeout: k.rebalanceTimeoutMs,
        minBytes: k.fetchMinBytes,
        maxWaitTimeInMs: k.fetchMaxWaitMs,
        // read_committed (kafkajs's default, named): exactly-once stages see only committed transactions.
        readUncommitted: false,
      },
      assignor: k.partitionAssignor,
      session: (consumer) => this.session(consumer),
      healthWindowMs: k.healthWindowMs,
      restartMaxBackoffMs: k.restartMaxBackoffMs,
      staleMembers: this.staleMembers(kafka, groupId),
      logger: this.logger,
    });
    metrics.collect(metrics.pausedPartitions, name, () => (this.paused ? this.assigned : 0));
    metrics.collect(metrics.inFlight, name, () => this.fetchAhead?.inFlightRecords ?? 0);
    if (config.stage.lagIntervalMs > 0)
      this.lag = new ConsumerLag(kafka, metrics, {
        groupId: `${k.groupIdPrefix}${name}`,
        topic: this.inputTopic,
        intervalMs: config.stage.lagIntervalMs,
      });
  }

  /** A killed process's member is removed from the group at the next start (docs/ARCHITECTURE.md, "Restarts"). */
  private staleMembers(kafka: Kafka, groupId: string) {
    const membership = new GroupMembershipAdapter(kafka);
    if (!membership.supported) {
      this.logger.warn('kafkajs offers no way to remove a former member: a restart waits for its session timeout');
      return undefined;
    }
    const { stateDir, instanceId } = this.config.stage;
    try {
      return {
        ledger: new FileMemberLedger(stateDir, groupId, instanceId),
        remove: (group: string, memberId: string) => membership.removeMember(group, memberId),
        // Past this the former member is left to its session timeout, as without this.
        timeoutMs: 3_000,
      };
    } catch (error) {
      this.logger.warn(
        `member ids not recorded in ${stateDir} (${(error as Error).message}): a restart waits for the session timeout`,
      );
      return undefined;
    }
  }

  /** Consumes once outputs can be produced and encoded; meanwhile the service is alive and not ready. */
  onApplicationBootstrap(): void {
    // The member a killed process left behind goes while the producer connects and schemas register.
    void this.consumer.removeStaleMemberNow();
    void (async () => {
      await this.connection.whenReady();
      await this.schemas.whenRegistered();
      await this.readReplyPartitions();
      if (this.draining) return;
      this.consumer.start();
      this.lag?.start();
      this.logger.log(`consuming ${this.inputTopic} → ${this.options.outputTopic(this.config)}`);
    })().catch((error: unknown) => this.logger.error(`not started: ${(error as Error).message}`));
  }

  /**
   * A reply to a partition the topic lacks would be retried forever: a topic an operator created with
   * fewer partitions than REPLY_PARTITIONS bounds the destinations accepted.
   */
  private async readReplyPartitions(): Promise<void> {
    if (!this.replies) return;
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const { topics } = await admin.fetchTopicMetadata({ topics: [this.replies.topic] });
      const count = topics[0]?.partitions.length ?? 0;
      if (count !== this.replies.partitions)
        this.logger.warn(
          `${this.replies.topic} has ${count} partitions, REPLY_PARTITIONS=${this.replies.partitions}: replies go to partitions below ${Math.min(count, this.replies.partitions)} only`,
        );
      this.replies.partitions = Math.min(count, this.replies.partitions);
    } catch (error) {
      this.logger.warn(
        `could not read ${this.replies.topic}'s partitions (${(error as Error).message}); trusting REPLY_PARTITIONS`,
      );
    } finally {
      await admin.disconnect();
    }
  }

  /** Readiness: a broker answers, the consumer is a member of its group, schemas are registered, not draining. */
  readinessChecks(): ReadinessCheck[] {
    return [
      { name: 'kafka', check: () => this.connection.isReady && this.consumer.health.brokerReachable },
      { name: 'schemas', check: () => this.schemas.isRegistered },
      { name: 'consumer', check: () => this.consumer.health.member },
      { name: 'accepting', check: () => !this.draining },
    ];
  }

  // The first shutdown hook: from here on readiness says no, so that traffic moves elsewhere.
  onModuleDestroy(): void {
    this.draining = true;
  }

  // SIGTERM/SIGINT: stop fetching, let what was handed over be produced and committed, then leave the
  // group so that the partitions move on at once.
  async beforeApplicationShutdown(): Promise<void> {
    this.draining = true;
    const { drainTimeoutMs } = this.config.stage;
    if (this.fetchAhead) {
      const drained = await this.fetchAhead.drain([this.inputTopic], drainTimeoutMs);
      if (!drained)
        this.logger.warn(`drain incomplete after ${drainTimeoutMs} ms; uncommitted records will be re-read`);
    }
    this.writer.stop();
    await this.transactional?.close();
    await this.groupOffsets?.close();
    await this.lag?.stop();
    await this.consumer.stop();
  }

  /**
   * Another instance took over a partition's transactional id: this one is a zombie (it was paused
   * past its session timeout). Nothing it has not committed becomes visible; it stops, through the
   * ordinary shutdown, and its supervisor starts a fresh member.
   */
  private onFenced(where: string, error: unknown): void {
    if (this.fenced) return;
    this.fenced = true;
    this.logger.error(`fenced on ${where} (${(error as Error).message}): another instance owns it; stopping`);
    process.exitCode = 75; // EX_TEMPFAIL
    process.kill(process.pid, 'SIGTERM');
  }

  private session(consumer: Consumer) {
    // A restart after a crash carries on with the work in flight (see FetchAhead.attach).
    this.fetchAhead?.attach(consumer);
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const partitions = payload.memberAssignment[this.inputTopic] ?? [];
      this.assigned = partitions.length;
      // A producer per new partition takes over its transactional id (fencing the previous owner).
      this.transactional?.assign(partitions.map((partition) => ({ topic: this.inputTopic, partition })));
    });
    const transactional = this.transactional;
    const fetchAhead = (this.fetchAhead ??= new FetchAhead(consumer, {
      maxInFlight: this.config.stage.maxInFlight,
      revokeTimeoutMs: this.config.stage.revokeTimeoutMs,
      heartbeatIntervalMs: this.config.kafka.heartbeatIntervalMs,
      logger: this.logger,
      onPaused: (paused) => {
        if (paused) this.metrics.backpressurePauses.inc({ stage: this.options.name });
        this.paused = paused;
      },
      trimQueued: () => this.pipeline.trimQueued(),
      abandonQueued: () => this.pipeline.abandonQueued(),
      commitIntervalMs: this.config.stage.commitIntervalMs,
      ...(transactional && {
        commit: transactional.commit,
        onRevoked: () => transactional.revoked(),
        beforeHandle: (topic: string, partition: number) => transactional.ready(topic, partition),
      }),
    }));
    return {
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.config.topics.partitions,
      eachBatch: (payload: EachBatchPayload) =>
        fetchAhead.accept(payload, (messages) => this.process(payload.batch.topic, payload.batch.partition, messages)),
    };
  }

  /**
   * Decodes (retrying transient failures), dead-letters what cannot be decoded, and hands the rest on.
   * Answers one promise per message, settled once its outputs (or its DLQ record) are acknowledged.
   */
  private process(topic: string, partition: number, messages: KafkaMessage[]): Promise<void>[] {
    const policy = { maxRetries: this.config.delivery.maxRetries, backoffMs: this.config.delivery.retryBackoffMs };
    const { name } = this.options;
    const received = process.hrtime.bigint();
    this.metrics.recordsIn.inc({ stage: name }, messages.length);
    const replies = messages.map(() => reply());
    // Each record's span continues the trace its producer sent (or starts one); its DLQ copy and its
    // outputs carry this span on as their traceparent.
    const spans = messages.map((m) => this.tracer.startRecord(m.headers, { topic, partition, offset: m.offset }));
    const traced = messages.map((m, i) => ({ ...m, headers: { ...m.headers, ...traceHeaders(spans[i]) } }));
    const latency = this.metrics.stageLatency.labels(name);
    // Exactly-once: only records of this reading of the partition may stage outputs (TransactionalOutputs).
    const claim = this.transactional?.claimFor(topic, partition);
    replies.forEach(
      (r, i) =>
        void r.promise.then(
          () => {
            latency.observe(Number(process.hrtime.bigint() - received) / 1e9);
            endSpan(spans[i]);
          },
          (error: unknown) => endSpan(spans[i], error),
        ),
    );
    void Promise.all(traced.map((m) => decodeWithRetry(this.deserializer, { ...m, topic, partition }, policy))).then(
      (inbound) => {
        const good: Decoded<In>[] = [];
        const goodAt: number[] = [];
        inbound.forEach((record, i) => {
          claim?.add(record);
          if (record.decoded.ok) {
            good.push({ inbound: record, record: record.decoded.record, span: spans[i] });
            goodAt.push(i);
          } else replies[i].follow(this.writer.deadLetter(record, record.decoded.error));
        });
        this.pipeline.submit(good).forEach((outcome, j) => replies[goodAt[j]].follow(outcome));
      },
      (error: unknown) =>
        replies.forEach((r) => r.follow(Promise.reject(error instanceof Error ? error : new Error(String(error))))),
    );
    return replies.map((r) => r.promise);
  }
}

/** A promise that settles as another one, given later. */
function reply(): { promise: Promise<void>; follow: (outcome: Promise<void>) => void } {
  let follow!: (outcome: Promise<void>) => void;
  const promise = new Promise<void>((resolve, reject) => (follow = (outcome) => void outcome.then(resolve, reject)));
  return { promise, follow };
}
