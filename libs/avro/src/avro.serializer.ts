import { RecordSigner, SIGNATURE_HEADER } from '@app/common';
import type { Serializer } from '@nestjs/microservices';
import type { Message } from 'kafkajs';
import { AvroCodec } from './avro-codec';
import { RecordKind, RecordTypes } from './records';

/** Nest serializer: a record → a Kafka message keyed by its request id, value in the Confluent wire format. */
export class AvroSerializer<K extends RecordKind> implements Serializer<RecordTypes[K], Message> {
  constructor(
    private readonly codec: AvroCodec,
    readonly kind: K,
    /** With a key configured (PREDICTION_SIGNING_KEY), each record carries its HMAC in a header. */
    private readonly signer?: RecordSigner,
  ) {}

  serialize(record: RecordTypes[K], headers?: Record<string, string>): Message {
    const value = this.codec.encode(this.kind, record);
    if (!this.signer) return { key: record.id, value, headers };
    return { key: record.id, value, headers: { ...headers, [SIGNATURE_HEADER]: this.signer.sign(record.id, value) } };
  }
}
