import type { Serializer } from '@nestjs/microservices';
import type { Message } from 'kafkajs';
import { AvroCodec } from './avro-codec';
import { RecordKind, RecordTypes } from './records';

/** Nest serializer: a record → a Kafka message keyed by its request id, value in the Confluent wire format. */
export class AvroSerializer<K extends RecordKind> implements Serializer<RecordTypes[K], Message> {
  constructor(
    private readonly codec: AvroCodec,
    readonly kind: K,
  ) {}

  serialize(record: RecordTypes[K], headers?: Record<string, string>): Message {
    return { key: record.id, value: this.codec.encode(this.kind, record), headers };
  }
}
