import type { Deserializer, IncomingEvent } from '@nestjs/microservices';
import type { IHeaders } from 'kafkajs';
import { AvroCodec } from './avro-codec';
import { CodecError } from './codec.errors';
import { RecordKind, RecordTypes } from './records';

/** A consumed Kafka message with its Avro value decoded, or the reason it could not be. */
export interface InboundRecord<K extends RecordKind> {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
  decoded: { ok: true; record: RecordTypes[K] } | { ok: false; error: CodecError | Error };
}

export interface RawKafkaMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: IHeaders;
}

const toBuffer = (v: Buffer | string | null | undefined): Buffer | null =>
  v === null || v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(v);

/**
 * Nest deserializer: never throws. A bad record becomes `decoded.ok === false` with a typed
 * CodecError; the stage runtime (@app/stage) retries the transient ones and dead-letters the rest.
 */
export class AvroDeserializer<K extends RecordKind> implements Deserializer<RawKafkaMessage, IncomingEvent> {
  constructor(
    private readonly codec: AvroCodec,
    readonly kind: K,
    /** The Nest pattern that handlers of this record kind listen on. */
    readonly pattern: string = kind,
  ) {}

  async deserialize(message: RawKafkaMessage): Promise<IncomingEvent> {
    return { pattern: this.pattern, data: await this.decode(message) };
  }

  async decode(message: RawKafkaMessage): Promise<InboundRecord<K>> {
    const value = toBuffer(message.value);
    const base = {
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      key: toBuffer(message.key),
      value,
      headers: message.headers ?? {},
    };
    try {
      return { ...base, decoded: { ok: true, record: await this.codec.decode(this.kind, value) } };
    } catch (error) {
      return { ...base, decoded: { ok: false, error: error instanceof Error ? error : new Error(String(error)) } };
    }
  }
}
