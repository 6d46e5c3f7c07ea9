import { IHeaders } from 'kafkajs';
import { readDlqHeaders, toDlqMessage, truncatedDlqMessage } from './dlq';
import { DLQ_HEADERS, dlqTopicFor } from './kafka.constants';

class ExampleDecodeError extends Error {
  override readonly name = 'ExampleDecodeError';
}

const original = () => ({
  key: Buffer.from([0xff, 0x00, 0xfe, 0x80]), // not valid UTF-8: must survive untouched
  value: Buffer.from([0x00, 0x00, 0x00, 0x00, 0x01, 0x0a, 0xc3]),
  headers: { traceparent: Buffer.from('00-abc-def-01'), tags: [Buffer.from('a'), Buffer.from('b')] } as IHeaders,
  offset: '1234',
});

describe('toDlqMessage', () => {
  it('keeps the original key, value and headers byte for byte', () => {
    const source = original();
    const dlq = toDlqMessage(source, { stage: 'preprocessor', topic: 'raw', partition: 3, error: new Error('x') }, 0);
    expect(Buffer.isBuffer(dlq.key)).toBe(true);
    expect((dlq.key as Buffer).equals(Buffer.from([0xff, 0x00, 0xfe, 0x80]))).toBe(true);
    expect((dlq.value as Buffer).equals(Buffer.from([0x00, 0x00, 0x00, 0x00, 0x01, 0x0a, 0xc3]))).toBe(true);
    expect((dlq.headers!.traceparent as Buffer).equals(Buffer.from('00-abc-def-01'))).toBe(true);
    expect(dlq.headers!.tags).toEqual([Buffer.from('a'), Buffer.from('b')]);
  });

  it('keeps a null key and a null value as null', () => {
    const dlq = toDlqMessage(
      { key: null, value: null, offset: '0' },
      { stage: 'inference', topic: 'tokenized', partition: 0, error: new Error('x') },
    );
    expect(dlq.key).toBeNull();
    expect(dlq.value).toBeNull();
  });

  it('adds every DLQ header', () => {
    const dlq = toDlqMessage(
      original(),
      { stage: 'preprocessor', topic: 'raw', partition: 3, error: new ExampleDecodeError('truncated buffer') },
      1_700_000_000_000,
    );
    expect(dlq.headers).toMatchObject({
      [DLQ_HEADERS.stage]: 'preprocessor',
      [DLQ_HEADERS.errorClass]: 'ExampleDecodeError',
      [DLQ_HEADERS.errorMessage]: 'truncated buffer',
      [DLQ_HEADERS.topic]: 'raw',
      [DLQ_HEADERS.partition]: '3',
      [DLQ_HEADERS.offset]: '1234',
      [DLQ_HEADERS.failedAt]: '1700000000000',
    });
    for (const name of Object.values(DLQ_HEADERS).filter((n) => n !== DLQ_HEADERS.truncated))
      expect(dlq.headers).toHaveProperty([name]);
    expect(dlq.headers).not.toHaveProperty([DLQ_HEADERS.truncated]);
  });

  it('describes a thrown non-Error value', () => {
    const dlq = toDlqMessage(original(), { stage: 's', topic: 't', partition: 0, error: 'plain string' }, 0);
    expect(readDlqHeaders(dlq.headers)).toMatchObject({ errorClass: 'Error', errorMessage: 'plain string' });
  });

  it('caps the error message at 1000 characters', () => {
    const dlq = toDlqMessage(
      original(),
      { stage: 's', topic: 't', partition: 0, error: new Error('x'.repeat(5000)) },
      0,
    );
    expect(readDlqHeaders(dlq.headers).errorMessage).toHaveLength(1000);
  });

  it('names the DLQ topic <topic>.dlq', () => {
    expect(dlqTopicFor('raw')).toBe('raw.dlq');
  });
});

describe('readDlqHeaders', () => {
  it('round-trips the headers of toDlqMessage, also once they come back from Kafka as Buffers', () => {
    const dlq = toDlqMessage(
      original(),
      { stage: 'inference', topic: 'tokenized', partition: 11, error: new ExampleDecodeError('bad ids') },
      42,
    );
    const expected = {
      stage: 'inference',
      errorClass: 'ExampleDecodeError',
      errorMessage: 'bad ids',
      topic: 'tokenized',
      partition: '11',
      offset: '1234',
      failedAt: '42',
    };
    expect(readDlqHeaders(dlq.headers)).toEqual(expected);
    // A consumer sees every header value as a Buffer.
    const consumed: IHeaders = Object.fromEntries(
      Object.entries(dlq.headers!).map(([k, v]) => [
        k,
        Array.isArray(v) ? v.map((x) => Buffer.from(x)) : Buffer.from(v as string),
      ]),
    );
    expect(readDlqHeaders(consumed)).toEqual(expected);
  });

  it('reads the first value of a repeated header', () => {
    expect(readDlqHeaders({ [DLQ_HEADERS.stage]: [Buffer.from('first'), Buffer.from('second')] }).stage).toBe('first');
  });

  it('gives undefined for absent headers', () => {
    expect(readDlqHeaders(undefined)).toEqual({
      stage: undefined,
      errorClass: undefined,
      errorMessage: undefined,
      topic: undefined,
      partition: undefined,
      offset: undefined,
      failedAt: undefined,
    });
  });
});

describe('truncatedDlqMessage', () => {
  it('keeps the first bytes of the value, the dlq.* and trace headers only, and flags the original size', () => {
    const source = { ...original(), value: Buffer.alloc(1_048_400, 7) };
    const full = toDlqMessage(source, { stage: 'preprocessor', topic: 'raw', partition: 3, error: new Error('x') }, 5);
    const cut = truncatedDlqMessage(full, 1024);
    expect((cut.value as Buffer).length).toBe(1024);
    expect((cut.value as Buffer).equals(Buffer.alloc(1024, 7))).toBe(true);
    expect((cut.key as Buffer).equals(source.key)).toBe(true);
    expect(cut.headers).not.toHaveProperty('tags');
    // The trace context stays: the truncated copy is still found by its trace id.
    expect((cut.headers!.traceparent as Buffer).equals(Buffer.from('00-abc-def-01'))).toBe(true);
    expect(readDlqHeaders(cut.headers)).toMatchObject({
      stage: 'preprocessor',
      topic: 'raw',
      partition: '3',
      offset: '1234',
      truncated: '1048400',
    });
  });

  it('flags a null value as 0 bytes', () => {
    const full = toDlqMessage(
      { key: null, value: null, offset: '0' },
      { stage: 's', topic: 't', partition: 0, error: 'e' },
    );
    expect(truncatedDlqMessage(full, 10)).toMatchObject({ value: null, headers: { 'dlq.truncated': '0' } });
  });
});
