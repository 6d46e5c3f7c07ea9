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

/** Reads the DLQ headers back as strings (for tests, the consume CLI and operators' tools). */
export function readDlqHeaders(headers: IHeaders | undefined): Record<keyof typeof DLQ_HEADERS, string | undefined> {
  const get = (name: string) => {
    const value = headers?.[name];
    const first = Array.isArray(value) ? value[0] : value;
    return first === undefined ? undefined : first.toString();
  };
  return Object.fromEntries(Object.entries(DLQ_HEADERS).map(([k, name]) => [k, get(name)])) as never;
}
