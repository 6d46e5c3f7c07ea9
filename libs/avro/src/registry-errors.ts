import {
  CodecError,
  RegistryRequestError,
  RegistryUnavailableError,
  SchemaIncompatibleError,
  UnknownSchemaIdError,
} from './codec.errors';

// mappersmith (under @kafkajs/confluent-schema-registry) reports socket errors as HTTP 400,
// so the message is the only way to tell "down" from "bad request".
const NETWORK_ERROR =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|socket hang up|fetch failed|timeout/i;

/** Maps whatever the registry client threw into the codec's typed hierarchy. */
export function toRegistryError(error: unknown, context: { subject?: string; schemaId?: number }): CodecError {
  if (error instanceof CodecError) return error;
  const status = typeof error === 'object' && error && 'status' in error ? Number(error.status) : 0;
  const message = error instanceof Error ? error.message : String(error);
  const causeText = error instanceof Error && error.cause instanceof Error ? ` ${error.cause.message}` : '';
  const networkish = (status === 0 || status === 400) && NETWORK_ERROR.test(message + causeText);
  const aborted = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
  if (networkish || aborted || status === 408 || status >= 500) {
    return new RegistryUnavailableError(`schema registry unavailable: ${message}${causeText}`, { cause: error });
  }
  if (status === 404 && context.schemaId !== undefined) return new UnknownSchemaIdError(context.schemaId);
  if (status === 409 && context.subject) return new SchemaIncompatibleError(context.subject, message);
  return new RegistryRequestError(status, `schema registry answered ${status}: ${message}`);
}
