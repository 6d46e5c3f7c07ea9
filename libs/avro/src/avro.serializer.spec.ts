import { RecordSigner, SIGNATURE_HEADER } from '@app/common';
import { predictionRecord, registeredCodec } from '@app/testing';
import { AvroSerializer } from './avro.serializer';

describe('AvroSerializer', () => {
  it('keys the message by request id and adds no header without a signer', async () => {
    const { codec } = await registeredCodec();
    const record = predictionRecord();
    const message = new AvroSerializer(codec, 'prediction').serialize(record);
    expect(message.key).toBe(record.id);
    expect(message.headers).toBeUndefined();
  });

  it('with a signer, adds the HMAC of key and value bytes, keeping other headers', async () => {
    const { codec } = await registeredCodec();
    const signer = new RecordSigner('s'.repeat(32));
    const record = predictionRecord();
    const message = new AvroSerializer(codec, 'prediction', signer).serialize(record, { trace: 't' });
    expect(message.headers?.trace).toBe('t');
    expect(signer.verify(record.id, message.value as Buffer, message.headers?.[SIGNATURE_HEADER])).toBe(true);
  });
});
