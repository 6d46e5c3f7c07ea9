/**
 * How the project tells Kafka errors apart. A broker that is down, a leader that moved or a
 * rebalance go away by themselves and are retried; a record the broker refuses (too large,
 * invalid) never will be, and must never be retried forever (docs/ARCHITECTURE.md, "Faults").
 */
const RECORD_REJECTED = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE']);

interface KafkaErrorLike {
  name?: string;
  type?: string;
  retriable?: boolean;
  cause?: unknown;
  originalError?: unknown;
}

/** The error and its causes (kafkajs wraps the broker's answer in retry errors). */
function* chain(error: unknown): Generator<KafkaErrorLike> {
  const seen = new Set<unknown>();
  for (let e = error; typeof e === 'object' && e !== null && !seen.has(e);) {
    seen.add(e);
    const current = e as KafkaErrorLike;
    yield current;
    e = current.cause ?? current.originalError;
  }
}

/** The broker refused the records themselves: sending them again cannot succeed. */
export function isRecordRejected(error: unknown): boolean {
  for (const e of chain(error)) if (e.type && RECORD_REJECTED.has(e.type)) return true;
  return false;
}

/** The broker-side error type (MESSAGE_TOO_LARGE, …) found in the error's chain, if any. */
export function kafkaErrorType(error: unknown): string | undefined {
  for (const e of chain(error)) if (e.type) return e.type;
  return undefined;
}

/** kafkajs's own test for "the group is rebalancing: rejoin". */
export function isRebalancing(error: unknown): boolean {
  const type = (error as KafkaErrorLike | undefined)?.type;
  return type === 'REBALANCE_IN_PROGRESS' || type === 'NOT_COORDINATOR_FOR_GROUP' || type === 'ILLEGAL_GENERATION';
}

const ACCESS_DENIED = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
]);

/**
 * The broker refused this client's credentials or its ACLs refuse the operation: retrying with the
 * same settings cannot help, so it is reported once and not retried (no retry storm, no lockout).
 */
export function isAccessDenied(error: unknown): boolean {
  for (const e of chain(error)) {
    if (e.name === 'KafkaJSSASLAuthenticationError') return true;
    if (e.type && ACCESS_DENIED.has(e.type)) return true;
  }
  return false;
}

/** Some error type in the error's chain satisfies `test`. */
export function chainHas(error: unknown, test: (type: string) => boolean): boolean {
  for (const e of chain(error)) if (e.type && test(e.type)) return true;
  return false;
}
