import { REPLY_PARTITION_HEADER, REPLY_TOPIC_HEADER } from '@app/kafka';
import { replyDestination, replyHeaders } from './reply-route';

const replies = { topic: 'replies', partitions: 4 };
const route = (topic: string | Buffer, partition: string | Buffer) => ({
  [REPLY_TOPIC_HEADER]: topic,
  [REPLY_PARTITION_HEADER]: partition,
});

describe('replyHeaders', () => {
  it('reads the reply route off consumed headers (Buffers) as strings, and nothing else', () => {
    expect(
      replyHeaders({ ...route(Buffer.from('replies'), Buffer.from('2')), traceparent: Buffer.from('00-a-b-01') }),
    ).toEqual({ 'reply-topic': 'replies', 'reply-partition': '2' });
  });

  it('is empty for a record without a route (any producer but a gateway) or with half of one', () => {
    expect(replyHeaders(undefined)).toEqual({});
    expect(replyHeaders({ traceparent: '00-a-b-01' })).toEqual({});
    expect(replyHeaders({ [REPLY_TOPIC_HEADER]: 'replies' })).toEqual({});
  });
});

describe('replyDestination', () => {
  it("answers the configured replies topic's partition the record names", () => {
    expect(replyDestination(route(Buffer.from('replies'), Buffer.from('3')), replies)).toEqual({
      topic: 'replies',
      partition: 3,
    });
  });

  it('refuses any other topic, so that a header cannot steer writes elsewhere', () => {
    expect(replyDestination(route('raw', '0'), replies)).toBeUndefined();
  });

  it('refuses a partition the topic does not have, or that is not a number', () => {
    for (const partition of ['4', '-1', '1.5', 'x', '', '99999999999'])
      expect(replyDestination(route('replies', partition), replies)).toBeUndefined();
  });

  it('is none without headers', () => {
    expect(replyDestination(undefined, replies)).toBeUndefined();
  });
});
