import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

// Buckets fit the ranges the benchmark measured on a 2-core machine (bench/README.md): a record takes
// tens of ms end to end at light load, hundreds under load, seconds when a backlog forms.
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const STAGE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const RUN_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];
const TOKEN_BUCKETS = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192];
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Every metric a service exposes on /metrics, in one prom-client registry per process (per app
 * instance, so tests stay isolated). Names and buckets are listed here and in deploy/grafana.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly recordsIn: Counter<'stage'>;
  readonly recordsOut: Counter<'stage'>;
  readonly deadLettered: Counter<'stage' | 'reason'>;
  readonly dlqTruncated: Counter<'stage'>;
  readonly dlqSkipped: Counter<'stage'>;
  readonly backpressurePauses: Counter<'stage'>;
  readonly stageLatency: Histogram<'stage'>;
  readonly endToEnd: Histogram;
  readonly batchSize: Histogram<'stage'>;
  readonly batchRealTokens: Histogram<'stage'>;
  readonly batchPaddedTokens: Histogram<'stage'>;
  readonly modelRun: Histogram<'stage'>;
  readonly queueDepth: Gauge<'stage'>;
  readonly inFlight: Gauge<'stage'>;
  readonly pausedPartitions: Gauge<'stage'>;
  readonly consumerLag: Gauge<'group' | 'topic' | 'partition'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly warningsSuppressed: Counter<'reason'>;
  readonly replyFetchedRecords: Counter;
  readonly replyFetchedBytes: Counter;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.recordsIn = new Counter({
      name: 'stage_records_in_total',
      help: 'Records a stage consumed (decoded or not).',
      labelNames: ['stage'],
      registers,
    });
    this.recordsOut = new Counter({
      name: 'stage_records_out_total',
      help: 'Records a stage produced onto its output topic, counted once the broker acknowledged them.',
      labelNames: ['stage'],
      registers,
    });
    this.deadLettered = new Counter({
      name: 'stage_records_dead_lettered_total',
      help: 'Records a stage sent to its DLQ, by reason (the error class).',
      labelNames: ['stage', 'reason'],
      registers,
    });
    this.dlqTruncated = new Counter({
      name: 'stage_dlq_truncated_total',
      help: 'DLQ copies the broker refused whole and took truncated.',
      labelNames: ['stage'],
      registers,
    });
    this.dlqSkipped = new Counter({
      name: 'stage_dlq_skipped_total',
      help: 'Records skipped because the broker refused even their truncated DLQ copy.',
      labelNames: ['stage'],
      registers,
    });
    this.backpressurePauses = new Counter({
      name: 'stage_backpressure_pauses_total',
      help: 'Times a stage paused its partitions because too many records were in flight.',
      labelNames: ['stage'],
      registers,
    });
    this.stageLatency = new Histogram({
      name: 'stage_latency_seconds',
      help: "A record's time in a stage: consumed → its output acknowledged by the broker.",
      labelNames: ['stage'],
      buckets: STAGE_BUCKETS,
      registers,
    });
    this.endToEnd = new Histogram({
      name: 'pipeline_end_to_end_seconds',
      help: "A record's age when predicted: its createdAt → the prediction (inference).",
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.batchSize = new Histogram({
      name: 'batch_size',
      help: 'Records per model run.',
      labelNames: ['stage'],
      buckets: BATCH_SIZE_BUCKETS,
      registers,
    });
    this.batchRealTokens = new Histogram({
      name: 'batch_real_tokens',
      help: 'Real (non-pad) tokens per model run; sum ÷ batch_padded_tokens sum is the token efficiency.',
      labelNames: ['stage'],
      buckets: TOKEN_BUCKETS,
      registers,
    });
    this.batchPaddedTokens = new Histogram({
      name: 'batch_padded_tokens',
      help: 'Padded tokens per model run (batch size × longest record).',
      labelNames: ['stage'],
      buckets: TOKEN_BUCKETS,
      registers,
    });
    this.modelRun = new Histogram({
      name: 'model_run_seconds',
      help: 'Time of one model run on a batch.',
      labelNames: ['stage'],
      buckets: RUN_BUCKETS,
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'stage_queue_depth',
      help: 'Records waiting for a batch.',
      labelNames: ['stage'],
      registers,
    });
    this.inFlight = new Gauge({
      name: 'stage_in_flight_records',
      help: 'Records handed to the stage and not yet acknowledged.',
      labelNames: ['stage'],
      registers,
    });
    this.pausedPartitions = new Gauge({
      name: 'stage_paused_partitions',
      help: 'Input partitions this member has paused for backpressure.',
      labelNames: ['stage'],
      registers,
    });
    this.consumerLag = new Gauge({
      name: 'kafka_consumer_lag',
      help: "Per partition: the log-end offset minus the group's committed offset (read through the admin client).",
      labelNames: ['group', 'topic', 'partition'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP requests by method, route and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.warningsSuppressed = new Counter({
      name: 'log_warnings_suppressed_total',
      help: 'Warnings about bad input not logged because of the per-reason rate limit.',
      labelNames: ['reason'],
      registers,
    });
    this.replyFetchedRecords = new Counter({
      name: 'gateway_reply_fetched_records_total',
      help: "Records the gateway's reply listener fetched, its own replies and any others.",
      registers,
    });
    this.replyFetchedBytes = new Counter({
      name: 'gateway_reply_fetched_bytes_total',
      help: "Bytes (key, value and headers) of the records the gateway's reply listener fetched.",
      registers,
    });
  }

  /** Reads `read()` into `gauge` whenever /metrics is scraped (a re-registered reader replaces the old one). */
  collect(gauge: Gauge<'stage'>, stage: string, read: () => number): void {
    const readers = this.collectors.get(gauge) ?? new Map<string, () => number>();
    readers.set(stage, read);
    this.collectors.set(gauge, readers);
  }

  private readonly collectors = new Map<Gauge<'stage'>, Map<string, () => number>>();

  contentType(): string {
    return this.registry.contentType;
  }

  async render(): Promise<string> {
    for (const [gauge, readers] of this.collectors) for (const [stage, read] of readers) gauge.set({ stage }, read());
    return this.registry.metrics();
  }
}
