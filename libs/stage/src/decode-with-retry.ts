import { AvroDeserializer, CodecError, InboundRecord, RawKafkaMessage, RecordKind } from '@app/avro';
import { retry } from '@app/common';

export interface DecodePolicy {
  maxRetries: number;
  backoffMs: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Decoding, in one place for every stage: a record whose failure is transient (the registry is
 * unreachable) is decoded again up to `maxRetries` times; a permanent failure, or the last
 * transient one, comes back as `decoded.ok === false` for the DLQ.
 */
export async function decodeWithRetry<K extends RecordKind>(
  deserializer: AvroDeserializer<K>,
  message: RawKafkaMessage,
  policy: DecodePolicy,
): Promise<InboundRecord<K>> {
  let last: InboundRecord<K> | undefined;
  try {
    return await retry(
      async () => {
        last = await deserializer.decode(message);
        if (!last.decoded.ok) throw last.decoded.error;
        return last;
      },
      {
        retries: policy.maxRetries,
        initialBackoffMs: policy.backoffMs,
        isRetriable: (error) => error instanceof CodecError && error.transient,
        sleep: policy.sleep,
      },
    );
  } catch {
    return last!;
  }
}
