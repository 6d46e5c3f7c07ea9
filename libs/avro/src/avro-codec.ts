import { Schema, Type } from 'avsc';
import {
  AvroDecodeError,
  AvroEncodeError,
  CodecError,
  IncompatibleRecordError,
  SchemaIncompatibleError,
} from './codec.errors';
import { RecordKind, RecordTypes, RECORD_KINDS } from './records';
import { readSchemaFile } from './schema-files';
import { CompatibilityLevel, SchemaRegistryAdapter } from './schema-registry.adapter';
import { frame, unframe } from './wire-format';

export interface CodecTopics {
  raw: string;
  tokenized: string;
  prediction: string;
}

/** TopicNameStrategy: the value schema of topic T lives under subject "T-value". */
export const subjectFor = (topic: string): string => `${topic}-value`;

/**
 * Encodes and decodes the project's records in the Confluent wire format.
 * Readers decode with their own schema (from schemas/*.avsc) resolved against the writer's schema
 * (fetched by id), which is what makes BACKWARD evolution work.
 */
export class AvroCodec {
  private readonly readerTypes = new Map<RecordKind, Type>();
  private readonly schemaIds = new Map<RecordKind, number>();
  // Resolvers are costly to build; one per (kind, writer schema id).
  private readonly resolvers = new Map<string, Promise<{ resolver: unknown; sameSchema: boolean }>>();

  constructor(
    private readonly registry: SchemaRegistryAdapter,
    private readonly topics: CodecTopics,
    private readonly compatibility: CompatibilityLevel = 'BACKWARD',
  ) {
    for (const kind of RECORD_KINDS)
      this.readerTypes.set(kind, Type.forSchema(JSON.parse(readSchemaFile(kind)) as Schema));
  }

  /** Sets BACKWARD on each subject and registers the three schemas. Idempotent. */
  async registerAll(): Promise<Record<RecordKind, number>> {
    for (const kind of RECORD_KINDS) {
      const subject = subjectFor(this.topics[kind]);
      const schema = readSchemaFile(kind);
      await this.registry.setCompatibility(subject, this.compatibility);
      if (!(await this.registry.isCompatible(subject, schema))) {
        throw new SchemaIncompatibleError(subject, 'the registry reports it breaks ' + this.compatibility);
      }
      this.schemaIds.set(kind, await this.registry.register(subject, schema, this.compatibility));
    }
    return Object.fromEntries(this.schemaIds) as Record<RecordKind, number>;
  }

  get registered(): boolean {
    return this.schemaIds.size === RECORD_KINDS.length;
  }

  schemaId(kind: RecordKind): number {
    const id = this.schemaIds.get(kind);
    if (id === undefined) throw new Error(`schema for ${kind} not registered yet: call registerAll() first`);
    return id;
  }

  encode<K extends RecordKind>(kind: K, record: RecordTypes[K]): Buffer {
    const type = this.readerTypes.get(kind)!;
    // The plain check is compiled and cheap; the paths are collected only for the error.
    if (!type.isValid(record)) {
      const paths: string[] = [];
      type.isValid(record, { errorHook: (path) => paths.push(path.join('.') || '(root)') });
      throw new AvroEncodeError(`${kind} record does not match its schema at: ${paths.join(', ')}`, paths);
    }
    return frame(this.schemaId(kind), type.toBuffer(record));
  }

  /** Throws a CodecError subclass for anything that is not a valid `kind` record. */
  async decode<K extends RecordKind>(kind: K, value: Buffer | null | undefined): Promise<RecordTypes[K]> {
    const { schemaId, body } = unframe(value);
    const reader = this.readerTypes.get(kind)!;
    const { resolver, sameSchema } = await this.resolverFor(kind, schemaId);
    try {
      return (sameSchema ? reader.fromBuffer(body) : reader.fromBuffer(body, resolver as never)) as RecordTypes[K];
    } catch (error) {
      throw new AvroDecodeError(`invalid Avro body for ${kind} (schema id ${schemaId}): ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  private resolverFor(kind: RecordKind, schemaId: number) {
    const key = `${kind}:${schemaId}`;
    let entry = this.resolvers.get(key);
    if (!entry) {
      entry = this.buildResolver(kind, schemaId);
      this.resolvers.set(key, entry);
      // Do not cache failures: a transient registry error must be retried later.
      entry.catch(() => this.resolvers.delete(key));
    }
    return entry;
  }

  private async buildResolver(kind: RecordKind, schemaId: number) {
    const writer = await this.registry.getType(schemaId);
    const reader = this.readerTypes.get(kind)!;
    if (reader.equals(writer)) return { resolver: undefined, sameSchema: true };
    try {
      return { resolver: reader.createResolver(writer), sameSchema: false };
    } catch (error) {
      throw new IncompatibleRecordError(
        `schema id ${schemaId} (${(writer as Type & { name?: string }).name ?? writer.typeName}) cannot be read as a ${kind} record: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
}

export const isCodecError = (error: unknown): error is CodecError => error instanceof CodecError;
