import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  AvroDeserializer,
  AvroSerializer,
  InboundRecord,
  InvalidTextError,
  RawText,
  textProblem,
  TokenizedText,
} from '@app/avro';
import { APP_CONFIG, AppConfig, CLOCK, Clock } from '@app/config';
import { dlqTopicFor, KafkaProducerAdapter, sendUntilAcked, toDlqMessage } from '@app/kafka';
import { MetricsService } from '@app/observability';
import { TextTokenizer } from '@app/tokenizer';
import { Message } from 'kafkajs';
import { MODEL_ID, RAW_DESERIALIZER, TOKENIZED_SERIALIZER } from '../preprocessor.constants';

export const STAGE = 'preprocessor';

/** raw → tokenized: validates the text, runs the model's tokenizer, and dead-letters what it cannot process. */
@Injectable()
export class TokenizeService {
  private readonly logger = new Logger(TokenizeService.name);
  private stopping = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(RAW_DESERIALIZER) private readonly deserializer: AvroDeserializer<'raw'>,
    @Inject(TOKENIZED_SERIALIZER) private readonly serializer: AvroSerializer<'tokenized'>,
    private readonly tokenizer: TextTokenizer,
    private readonly producer: KafkaProducerAdapter,
    private readonly metrics: MetricsService,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(MODEL_ID) private readonly modelId: string,
  ) {}

  /** Handles one consumed raw record; resolves only once its output is acknowledged by the broker. */
  async handle(inbound: InboundRecord<'raw'>): Promise<void> {
    const output = await this.process(inbound);
    await sendUntilAcked(this.producer, [output], { logger: this.logger, isStopping: () => this.stopping });
    this.metrics.inc(
      output.topic === this.config.topics.tokenized ? 'preprocessor_tokenized_total' : 'preprocessor_dlq_total',
    );
  }

  /** Pure decision: the one message this input turns into (a tokenized record or a DLQ record). */
  async process(inbound: InboundRecord<'raw'>): Promise<{ topic: string; messages: Message[] }> {
    try {
      const raw = await this.deserializer.decodeWithRetries(inbound, {
        maxRetries: this.config.delivery.maxRetries,
        backoffMs: this.config.delivery.retryBackoffMs,
      });
      return { topic: this.config.topics.tokenized, messages: [this.serializer.serialize(this.tokenize(raw))] };
    } catch (error) {
      this.logger.warn(
        `dead-lettering ${inbound.topic}[${inbound.partition}]@${inbound.offset}: ${(error as Error).message}`,
      );
      return {
        topic: dlqTopicFor(inbound.topic),
        messages: [
          toDlqMessage(
            inbound,
            { stage: STAGE, topic: inbound.topic, partition: inbound.partition, error },
            this.clock.now(),
          ),
        ],
      };
    }
  }

  tokenize(raw: RawText): TokenizedText {
    const problem = textProblem(raw.text, this.config.limits.maxTextBytes);
    if (problem) throw new InvalidTextError(problem);
    const { inputIds, tokenCount, truncated } = this.tokenizer.encode(raw.text);
    return {
      id: raw.id,
      inputIds,
      tokenCount,
      truncated,
      tokenizer: this.modelId,
      createdAt: raw.createdAt,
      tokenizedAt: this.clock.now(),
      source: raw.source,
      metadata: raw.metadata,
    };
  }

  stop(): void {
    this.stopping = true;
  }
}
