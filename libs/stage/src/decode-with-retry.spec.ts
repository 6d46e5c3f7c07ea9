import { AvroDeserializer, RegistryUnavailableError, UnknownSchemaIdError } from '@app/avro';
import { kafkaMessage, rawText, registeredCodec } from '@app/testing';
import { decodeWithRetry } from './decode-with-retry';

const unavailable = () => new RegistryUnavailableError('schema registry unavailable: connect ECONNREFUSED');
const policy = { maxRetries: 3, backoffMs: 0 };

async function setup() {
  const { codec, registry } = await registeredCodec();
  const deserializer = new AvroDeserializer(codec, 'raw');
  const record = rawText();
  const message = { ...kafkaMessage(codec.encode('raw', record)), topic: 'raw', partition: 0 };
  return { deserializer, registry, record, message, codec };
}

describe('decodeWithRetry', () => {
  it('decodes a good record at once', async () => {
    const { deserializer, message, record } = await setup();
    const inbound = await decodeWithRetry(deserializer, message, policy);
    expect(inbound.decoded).toEqual({ ok: true, record });
  });

  it('retries while the registry is unreachable and decodes once it is back', async () => {
    const { deserializer, message, registry, record } = await setup();
    registry.getType.mockRejectedValueOnce(unavailable()).mockRejectedValueOnce(unavailable());
    const inbound = await decodeWithRetry(deserializer, message, policy);
    expect(inbound.decoded).toEqual({ ok: true, record });
    expect(registry.getType).toHaveBeenCalledTimes(3);
  });

  it('gives up after maxRetries transient failures, with the last error for the DLQ', async () => {
    const { deserializer, message, registry } = await setup();
    registry.getType.mockRejectedValue(unavailable());
    const inbound = await decodeWithRetry(deserializer, message, { maxRetries: 2, backoffMs: 0 });
    expect(inbound.decoded.ok).toBe(false);
    if (!inbound.decoded.ok) expect(inbound.decoded.error).toBeInstanceOf(RegistryUnavailableError);
    expect(registry.getType).toHaveBeenCalledTimes(3);
  });

  it('does not retry a permanent failure', async () => {
    const { deserializer, message, registry } = await setup();
    const value = Buffer.from(message.value as Buffer);
    value.writeUInt32BE(77, 1);
    const inbound = await decodeWithRetry(deserializer, { ...message, value }, policy);
    if (!inbound.decoded.ok) expect(inbound.decoded.error).toBeInstanceOf(UnknownSchemaIdError);
    expect(inbound.decoded.ok).toBe(false);
    expect(registry.getType).toHaveBeenCalledTimes(1);
    expect(inbound.value!.equals(value)).toBe(true);
  });
});
