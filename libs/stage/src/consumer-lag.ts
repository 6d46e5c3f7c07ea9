import { Logger } from '@nestjs/common';
import { errorMessage } from '@app/common';
import type { MetricsService } from '@app/observability';
import type { Admin, Kafka } from 'kafkajs';

export interface ConsumerLagOptions {
  groupId: string;
  topic: string;
  intervalMs: number;
}

/**
 * kafka_consumer_lag{group,topic,partition}: the log-end offset minus the group's committed offset,
 * read through the admin client every `intervalMs` (two small requests; modest on purpose).
 * A partition the group never committed counts from the log start.
 */
export class ConsumerLag {
  private readonly logger = new Logger(ConsumerLag.name);
  private admin?: Admin;
  private timer?: NodeJS.Timeout;
  private reading?: Promise<void>;
  private failures = 0;

  constructor(
    private readonly kafka: Kafka,
    private readonly metrics: MetricsService,
    private readonly options: ConsumerLagOptions,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.reading ??= this.read().finally(() => (this.reading = undefined));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.reading;
    await this.admin?.disconnect().catch(() => undefined);
    this.admin = undefined;
  }

  /** One reading of every partition's lag into the gauge. */
  async read(): Promise<void> {
    const { groupId, topic } = this.options;
    try {
      if (!this.admin) {
        const admin = this.kafka.admin();
        await admin.connect();
        this.admin = admin;
      }
      const [ends, [committed]] = await Promise.all([
        this.admin.fetchTopicOffsets(topic),
        this.admin.fetchOffsets({ groupId, topics: [topic] }),
      ]);
      const committedAt = new Map(committed?.partitions.map((p) => [p.partition, Number(p.offset)]) ?? []);
      for (const end of ends) {
        const done = committedAt.get(end.partition) ?? -1;
        const from = done >= 0 ? done : Number(end.low);
        this.metrics.consumerLag.set(
          { group: groupId, topic, partition: String(end.partition) },
          Math.max(0, Number(end.high) - from),
        );
      }
      this.failures = 0;
    } catch (error) {
      // Kafka down: readiness says so already; one line per outage here is enough.
      if (this.failures++ === 0) this.logger.warn(`consumer lag not read: ${errorMessage(error)}`);
    }
  }
}
