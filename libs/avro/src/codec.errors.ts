/**
 * Typed errors of the Avro codec. `transient` tells a consumer whether a retry can help
 * (registry unreachable) or the record must go to the DLQ (everything else).
 */
export abstract class CodecError extends Error {
  abstract readonly transient: boolean;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Not the Confluent wire format: too short or magic byte is not 0. */
export class InvalidWireFormatError extends CodecError {
  readonly transient = false;
}

/** The schema id in the header is not known to the registry. */
export class UnknownSchemaIdError extends CodecError {
  readonly transient = false;
  constructor(readonly schemaId: number) {
    super(`schema id ${schemaId} is not known to the registry`);
  }
}

/** The writer's schema cannot be read as the expected record (a record of another shape). */
export class IncompatibleRecordError extends CodecError {
  readonly transient = false;
}

/** The body is not valid Avro for the writer's schema (truncated, trailing bytes, garbage). */
export class AvroDecodeError extends CodecError {
  readonly transient = false;
}

/** The value does not fit the schema; `paths` names the offending fields. */
export class AvroEncodeError extends CodecError {
  readonly transient = false;
  constructor(
    message: string,
    readonly paths: string[],
  ) {
    super(message);
  }
}

/** The registry refused a schema because it breaks the subject's compatibility rule (HTTP 409). */
export class SchemaIncompatibleError extends CodecError {
  readonly transient = false;
  constructor(
    readonly subject: string,
    detail: string,
  ) {
    super(`schema for ${subject} is incompatible with the registered versions: ${detail}`);
  }
}

/** The registry could not be reached or answered 5xx. */
export class RegistryUnavailableError extends CodecError {
  readonly transient = true;
}

/** Any other registry answer we did not expect (4xx other than the ones above). */
export class RegistryRequestError extends CodecError {
  readonly transient = false;
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
