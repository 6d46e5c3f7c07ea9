import { Logger } from '@nestjs/common';
import { readDlqHeaders } from '@app/kafka';
import { AbandonedError, TransactionalOutputs } from '@app/kafka';
import { brokerDown, FakeClock, FakeProducer, FakeTransactionBroker, messageTooLarge } from '@app/testing';
import { OutputWriter, Source } from './output-writer';

const quiet = () => {
  const logger = new Logger('test');
  jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  jest.spyOn(logger, 'log').mockImplementation(() => undefined);
  jest.spyOn(logger, 'error').mockImplementation(() => undefined);
  return logger;
};

const source = (offset: number, value = Buffer.from('v')): Source => ({
  topic: 'raw',
  partition: 2,
  offset: String(offset),
  key: Buffer.from(`k${offset}`),
  value,
  headers: {},
});
const msg = (v: string) => ({ key: v, value: Buffer.from(v) });

function setup(producer = new FakeProducer()) {
  const logger = quiet();
  const writer = new OutputWriter(producer.asAdapter(), {
    stage: 'preprocessor',
    dlqTopic: 'raw.dlq',
    dlqTruncatedValueBytes: 16,
    logger,
    clock: new FakeClock(),
  });
  return { writer, producer, logger };
}

describe('OutputWriter', () => {
  afterEach(() => jest.useRealTimers());

  it('resolves once the broker acknowledged the outputs', async () => {
    const { writer, producer } = setup();
    await writer.write('tokenized', [msg('a'), msg('b')], [source(0), source(1)]);
    expect(producer.messages('tokenized').map((m) => m.key)).toEqual(['a', 'b']);
  });

  it('retries while the broker is down, with a capped backoff, until it acknowledges', async () => {
    jest.useFakeTimers();
    let down = true;
    const producer = new FakeProducer().failWith(() => (down ? brokerDown() : undefined));
    const { writer } = setup(producer);
    let acked = false;
    void writer.write('tokenized', [msg('a')], [source(0)]).then(() => (acked = true));
    await jest.advanceTimersByTimeAsync(60_000);
    expect(acked).toBe(false);
    const attempts = producer.attempts;
    expect(attempts).toBeGreaterThan(12); // 60 s at ≤ 5 s per attempt
    down = false;
    await jest.advanceTimersByTimeAsync(5_000);
    expect(acked).toBe(true);
  });

  it('never retries an output the broker refuses: that input goes to the DLQ and the others are written', async () => {
    const producer = new FakeProducer().failWith((topic, messages) =>
      topic === 'tokenized' && messages.some((m) => m.key === 'big') ? messageTooLarge() : undefined,
    );
    const { writer } = setup(producer);
    await writer.write('tokenized', [msg('ok'), msg('big')], [source(0), source(1)]);
    expect(producer.messages('tokenized').map((m) => m.key)).toEqual(['ok']);
    const [dead] = producer.messages('raw.dlq');
    expect(readDlqHeaders(dead.headers)).toMatchObject({ offset: '1', errorClass: 'KafkaJSProtocolError' });
  });

  it('sends a truncated, flagged DLQ copy when the whole copy is refused', async () => {
    const producer = new FakeProducer().failWith((topic, messages) =>
      topic === 'raw.dlq' && (messages[0].value as Buffer).length > 16 ? messageTooLarge() : undefined,
    );
    const { writer } = setup(producer);
    await writer.deadLetter(source(7, Buffer.alloc(1_048_400, 1)), new Error('not avro'));
    const [dead] = producer.messages('raw.dlq');
    expect((dead.value as Buffer).length).toBe(16);
    expect(readDlqHeaders(dead.headers)).toMatchObject({ truncated: '1048400', offset: '7', errorMessage: 'not avro' });
  });

  it('logs the skip with topic, partition and offset when even the truncated copy is refused, and moves on', async () => {
    const producer = new FakeProducer().failWith((topic) => (topic === 'raw.dlq' ? messageTooLarge() : undefined));
    const { writer, logger } = setup(producer);
    await expect(writer.deadLetter(source(9), new Error('x'))).resolves.toBeUndefined();
    expect(producer.attempts).toBe(2); // the copy, the truncated copy: never more
    expect(logger.error).toHaveBeenCalledWith(
      expect.objectContaining({ msg: expect.stringMatching(/skipping raw\[2\]@9/), requestId: 'k9' }),
    );
  });

  it('stops retrying once stopped, so that the input stays uncommitted', async () => {
    const producer = new FakeProducer().failWith(() => brokerDown());
    const { writer } = setup(producer);
    writer.stop();
    await expect(writer.write('tokenized', [msg('a')], [source(0)])).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('OutputWriter in exactly-once mode', () => {
  function transactional() {
    const broker = new FakeTransactionBroker();
    const logger = quiet();
    const outputs = new TransactionalOutputs({
      groupId: 'g-preprocessor',
      createProducer: (id) => broker.producer(id),
      committedOffset: (topic, partition) =>
        Promise.resolve(broker.committedOffset('g-preprocessor', topic, partition)),
      logger,
      onFenced: () => undefined,
    });
    const producer = new FakeProducer();
    const writer = new OutputWriter(producer.asAdapter(), {
      stage: 'preprocessor',
      dlqTopic: 'raw.dlq',
      dlqTruncatedValueBytes: 16,
      logger,
      clock: new FakeClock(),
      transactional: outputs,
      maxMessageBytes: 4_096,
    });
    outputs.assign([{ topic: 'raw', partition: 2 }]);
    const claimed = (offset: number) => {
      const s = source(offset);
      outputs.claimFor('raw', 2)!.add(s);
      return s;
    };
    return { broker, outputs, producer, writer, claimed };
  }

  it('stages outputs and DLQ copies; they appear, with the offset, only when the transaction commits', async () => {
    const { broker, outputs, producer, writer, claimed } = transactional();
    await writer.write('tokenized', [msg('a')], [claimed(0)]);
    await writer.deadLetter(claimed(1), new Error('not avro'));
    // Nothing through the idempotent producer, nothing visible yet.
    expect(producer.sent).toEqual([]);
    expect(broker.committed('tokenized')).toEqual([]);

    await outputs.commit([{ topic: 'raw', partition: 2, offset: '2' }]);
    expect(broker.committed('tokenized').map((m) => m.key)).toEqual(['a']);
    const [dead] = broker.committed('raw.dlq');
    expect(readDlqHeaders(dead.headers)).toMatchObject({
      stage: 'preprocessor',
      offset: '1',
      errorMessage: 'not avro',
    });
    expect(broker.committedOffset('g-preprocessor', 'raw', 2)).toBe('2');
    const committed = broker.transactions.filter((t) => t.state === 'committed' && t.messages.length > 0);
    expect(committed).toHaveLength(1);
  });

  it("rejects with AbandonedError a record whose partition is no longer this instance's", async () => {
    const { outputs, writer, claimed } = transactional();
    const s = claimed(0);
    outputs.assign([]);
    await expect(writer.write('tokenized', [msg('a')], [s])).rejects.toBeInstanceOf(AbandonedError);
    await expect(writer.deadLetter(s, new Error('x'))).rejects.toBeInstanceOf(AbandonedError);
  });

  it('sends an output over the broker limit to the DLQ, and a DLQ copy over it truncated, never failing the transaction', async () => {
    const { broker, outputs, writer, claimed } = transactional();
    const huge = { key: 'h', value: Buffer.alloc(10_000, 1) };
    await writer.write('tokenized', [huge, msg('ok')], [claimed(0), claimed(1)]);
    await writer.deadLetter(claimed(2), new Error('bad'));
    await outputs.commit([{ topic: 'raw', partition: 2, offset: '3' }]);
    expect(broker.committed('tokenized').map((m) => m.key)).toEqual(['ok']);
    const dead = broker.committed('raw.dlq').map((m) => readDlqHeaders(m.headers));
    expect(dead).toEqual([
      expect.objectContaining({ offset: '0', errorClass: 'RecordTooLargeError' }),
      expect.objectContaining({ offset: '2', errorMessage: 'bad' }),
    ]);
  });
});
