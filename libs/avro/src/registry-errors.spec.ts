import {
  InvalidWireFormatError,
  RegistryRequestError,
  RegistryUnavailableError,
  SchemaIncompatibleError,
  UnknownSchemaIdError,
} from './codec.errors';
import { toRegistryError } from './registry-errors';

const httpError = (status: number, message: string) => Object.assign(new Error(message), { status });

describe('toRegistryError', () => {
  it('maps a 404 on a schema id to UnknownSchemaIdError', () => {
    const error = toRegistryError(httpError(404, 'Schema 42 not found'), { schemaId: 42 });
    expect(error).toBeInstanceOf(UnknownSchemaIdError);
    expect((error as UnknownSchemaIdError).schemaId).toBe(42);
    expect(error.transient).toBe(false);
  });

  it('maps a 404 without a schema id to a permanent RegistryRequestError', () => {
    const error = toRegistryError(httpError(404, 'Subject not found'), { subject: 'raw-value' });
    expect(error).toBeInstanceOf(RegistryRequestError);
    expect((error as RegistryRequestError).status).toBe(404);
    expect(error.transient).toBe(false);
  });

  it('maps a 409 on a subject to SchemaIncompatibleError naming the subject', () => {
    const error = toRegistryError(httpError(409, 'Schema being registered is incompatible'), { subject: 'raw-value' });
    expect(error).toBeInstanceOf(SchemaIncompatibleError);
    expect((error as SchemaIncompatibleError).subject).toBe('raw-value');
    expect(error.message).toMatch(/raw-value.*incompatible/);
  });

  it("maps mappersmith's socket error (reported as HTTP 400) to RegistryUnavailableError", () => {
    // What @kafkajs/confluent-schema-registry's ResponseError looks like when nothing listens.
    const mappersmith = Object.assign(
      new Error('Confluent_Schema_Registry - Error, status 400: connect ECONNREFUSED 127.0.0.1:8081'),
      { name: 'ResponseError', status: 400 },
    );
    const error = toRegistryError(mappersmith, { schemaId: 1 });
    expect(error).toBeInstanceOf(RegistryUnavailableError);
    expect(error.transient).toBe(true);
    expect(error.cause).toBe(mappersmith);
  });

  it('looks at the cause of a fetch failure', () => {
    const fetchError = new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED ::1:8081') });
    const error = toRegistryError(fetchError, { subject: 'raw-value' });
    expect(error).toBeInstanceOf(RegistryUnavailableError);
    expect(error.message).toContain('ECONNREFUSED');
  });

  it.each([500, 502, 503, 408])('maps HTTP %i to the transient RegistryUnavailableError', (status) => {
    const error = toRegistryError(httpError(status, 'Service Unavailable'), { subject: 'raw-value' });
    expect(error).toBeInstanceOf(RegistryUnavailableError);
    expect(error.transient).toBe(true);
  });

  it('maps another 4xx to a permanent RegistryRequestError with its status', () => {
    const error = toRegistryError(httpError(422, 'Invalid schema'), { subject: 'raw-value' });
    expect(error).toBeInstanceOf(RegistryRequestError);
    expect((error as RegistryRequestError).status).toBe(422);
    expect(error.message).toBe('schema registry answered 422: Invalid schema');
  });

  it('passes codec errors through unchanged', () => {
    const original = new InvalidWireFormatError('bad');
    expect(toRegistryError(original, {})).toBe(original);
  });
});
