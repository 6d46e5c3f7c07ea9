import { Global, Inject, Injectable, Logger, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { errorMessage, retry } from '@app/common';
import { APP_CONFIG, CommonConfig } from '@app/config';
import { Kafka } from 'kafkajs';
import { createKafka } from './kafka-client.factory';
import { isAccessDenied } from './kafka-errors';
import { KafkaProducerAdapter } from './kafka-producer.adapter';
import { KAFKA_CLIENT } from './kafka.constants';
import { ensureTopics } from './topic-admin';

/**
 * Creates the pipeline topics and connects the producer, retrying in the background, so that a
 * service can boot (and answer 503 / not-ready) while Kafka is still down.
 */
@Injectable()
export class KafkaConnection implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(KafkaConnection.name);
  private stopping = false;
  private ready?: Promise<void>;

  constructor(
    @Inject(KAFKA_CLIENT) private readonly kafka: Kafka,
    @Inject(APP_CONFIG) private readonly config: CommonConfig,
    private readonly producer: KafkaProducerAdapter,
  ) {}

  onModuleInit(): void {
    const { raw, tokenized, predictions, partitions, replicationFactor, replies, replyPartitions } = this.config.topics;
    const brokers = this.config.kafka.brokers.join(',');
    this.ready = retry(
      async () => {
        if (this.config.kafka.createTopics) {
          await ensureTopics(this.kafka, [raw, tokenized, predictions], partitions, replicationFactor);
          // Replies are copies of predictions: nothing consumes them as a stage, so they have no DLQ.
          await ensureTopics(this.kafka, [replies], replyPartitions, replicationFactor, { dlq: false });
        }
        await this.producer.connect();
      },
      {
        retries: Infinity,
        initialBackoffMs: 250,
        maxBackoffMs: 5_000,
        isStopping: () => this.stopping,
        isRetriable: (error) => !isAccessDenied(error),
        onRetry: (error, attempt, waitMs) =>
          this.logger.warn(
            `connect to Kafka at ${brokers} failed (${errorMessage(error)}); attempt ${attempt} in ${waitMs} ms`,
          ),
      },
    );
    this.ready.catch((error: unknown) => {
      if (!isAccessDenied(error) || this.stopping) return;
      // Wrong credentials or missing ACLs: the same settings will never work. Stop, naming what to check.
      const sasl = this.config.kafka.security.sasl;
      const who = sasl && sasl.mechanism !== 'OAUTHBEARER' ? `KAFKA_SASL_USERNAME=${sasl.username}` : 'this client';
      this.logger.error(
        `Kafka at ${brokers} refused ${who} (${errorMessage(error)}): check KAFKA_SASL_* / KAFKA_SSL_* and the ACLs (docs/security.md); stopping`,
      );
      this.onAccessDenied();
    });
  }

  /** Stops the process through its shutdown hooks; replaced in tests. */
  protected onAccessDenied(): void {
    process.exitCode = 78; // EX_CONFIG
    process.kill(process.pid, 'SIGTERM');
  }

  whenReady(): Promise<void> {
    return this.ready ?? Promise.reject(new Error('KafkaConnection not initialised'));
  }

  get isReady(): boolean {
    return this.producer.isConnected;
  }

  // Last of all: consumers and batches in flight have finished with the producer by now.
  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.producer.disconnect().catch(() => undefined);
  }
}

/** The kafkajs client, the process's one idempotent producer, and its background connection. */
@Global()
@Module({
  providers: [
    {
      provide: KAFKA_CLIENT,
      inject: [APP_CONFIG],
      useFactory: (config: CommonConfig) =>
        createKafka(config.kafka.brokers, config.kafka.clientId, undefined, config.kafka.security),
    },
    {
      provide: KafkaProducerAdapter,
      inject: [KAFKA_CLIENT],
      useFactory: (kafka: Kafka) => new KafkaProducerAdapter(kafka),
    },
    KafkaConnection,
  ],
  exports: [KAFKA_CLIENT, KafkaProducerAdapter, KafkaConnection],
})
export class KafkaModule {}
