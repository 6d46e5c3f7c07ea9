import { isRebalancing, isRecordRejected, kafkaErrorType } from './kafka-errors';

const protocolError = (type: string, retriable: boolean) =>
  Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type, retriable });

describe('Kafka error classification', () => {
  it('calls a record the broker refuses rejected, also inside kafkajs retry errors', () => {
    expect(isRecordRejected(protocolError('MESSAGE_TOO_LARGE', false))).toBe(true);
    const wrapped = Object.assign(new Error('retries exceeded'), {
      name: 'KafkaJSNumberOfRetriesExceeded',
      cause: protocolError('RECORD_LIST_TOO_LARGE', false),
    });
    expect(isRecordRejected(wrapped)).toBe(true);
    expect(kafkaErrorType(wrapped)).toBe('RECORD_LIST_TOO_LARGE');
  });

  it('does not call a broker outage or a moved leader rejected: those are retried', () => {
    expect(
      isRecordRejected(
        Object.assign(new Error('Connection error: connect ECONNREFUSED'), { name: 'KafkaJSConnectionError' }),
      ),
    ).toBe(false);
    expect(isRecordRejected(protocolError('NOT_LEADER_FOR_PARTITION', true))).toBe(false);
    expect(isRecordRejected('weird')).toBe(false);
  });

  it("knows kafkajs's rebalancing errors", () => {
    expect(isRebalancing(protocolError('REBALANCE_IN_PROGRESS', false))).toBe(true);
    expect(isRebalancing(protocolError('ILLEGAL_GENERATION', false))).toBe(true);
    expect(isRebalancing(protocolError('MESSAGE_TOO_LARGE', false))).toBe(false);
    expect(isRebalancing(undefined)).toBe(false);
  });
});
