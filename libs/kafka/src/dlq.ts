import { IHeaders, Message } from 'kafkajs';
import { DLQ_HEADERS } from './kafka.constants';

export interface DlqContext {
  stage: string;
  topic: string;
  partition: number;
  error: unknown;
}

/** What a DLQ record needs of the message it replaces. */
export interface OriginalMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
  offset: string;
}

/** A DLQ record: the original key, value and headers unchanged, plus headers that say why. */
export function toDlqMessage(original: OriginalMessage, context: DlqContext, now = Date.now()): Message {
  const error = context.error instanceof Error ? context.error : new Error(String(context.error));
  const headers: IHeaders = {
    ...(original.headers ?? {}),
    [DLQ_HEADERS.stage]: context.stage,
    [DLQ_HEADERS.errorClass]: error.name,
    [DLQ_HEADERS.errorMessage]: error.message.slice(0, 1000),
    [DLQ_HEADERS.topic]: context.topic,
    [DLQ_HEADERS.partition]: String(context.partition),
    [DLQ_HEADERS.offset]: original.offset,
    [DLQ_HEADERS.failedAt]: String(now),
  };
  return { key: original.key, value: original.value, headers };
}

/**
 * The DLQ copy to send when the broker refused the whole one (a value near the broker's size limit
 * plus the dlq.* headers is over it): the value's first `maxValueBytes` bytes, the dlq.* headers
 * only, and `dlq.truncated` giving the original value's size.
 */
export function truncatedDlqMessage(dlq: Message, maxValueBytes: number): Message {
  const value = dlq.value === null || dlq.value === undefined ? null : Buffer.from(dlq.value);
  const headers: IHeaders = {};
  // The trace context stays too, so that the truncated copy is still found by its trace id.
  for (const name of [...Object.values(DLQ_HEADERS), 'traceparent', 'tracestate'])
    if (dlq.headers?.[name] !== undefined) headers[name] = dlq.headers[name];
  headers[DLQ_HEADERS.truncated] = String(value?.length ?? 0);
  return { key: dlq.key, value: value ? value.subarray(0, maxValueBytes) : null, headers };
}

/** Reads the DLQ headers back as strings (for tests, the consume CLI and operators' tools). */
export function readDlqHeaders(headers: IHeaders | undefined): Record<keyof typeof DLQ_HEADERS, string | undefined> {
  const get = (name: string) => {
    const value = headers?.[name];
    const first = Array.isArray(value) ? value[0] : value;
    return first === undefined ? undefined : first.toString();
  };
  return Object.fromEntries(Object.entries(DLQ_HEADERS).map(([k, name]) => [k, get(name)])) as never;
}
