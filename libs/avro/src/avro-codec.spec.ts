import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from 'avsc';
import { projectRoot } from '@app/config';
import { AvroCodec, isCodecError, subjectFor } from './avro-codec';
import {
  AvroDecodeError,
  AvroEncodeError,
  IncompatibleRecordError,
  InvalidWireFormatError,
  RegistryUnavailableError,
  SchemaIncompatibleError,
  UnknownSchemaIdError,
} from './codec.errors';
import { Prediction, RawText, RecordKind, TokenizedText } from './records';
import { toRegistryError } from './registry-errors';
import { readSchemaFile } from './schema-files';
import { SchemaRegistryAdapter } from './schema-registry.adapter';

// ---------- a stub registry: the four methods AvroCodec calls, backed by schemas/*.avsc ----------

type RegistryPart = Pick<SchemaRegistryAdapter, 'setCompatibility' | 'isCompatible' | 'register' | 'getType'>;

const TOPICS = { raw: 'raw', tokenized: 'tokenized', prediction: 'predictions' };
const IDS: Record<RecordKind, number> = { raw: 1, tokenized: 2, prediction: 3 };
const typeOf = (kind: RecordKind): Type => Type.forSchema(JSON.parse(readSchemaFile(kind)));

function stubRegistry() {
  const types = new Map<number, Type>([
    [IDS.raw, typeOf('raw')],
    [IDS.tokenized, typeOf('tokenized')],
    [IDS.prediction, typeOf('prediction')],
  ]);
  const idBySubject: Record<string, number> = {
    [subjectFor(TOPICS.raw)]: IDS.raw,
    [subjectFor(TOPICS.tokenized)]: IDS.tokenized,
    [subjectFor(TOPICS.prediction)]: IDS.prediction,
  };
  const stub = {
    types,
    setCompatibility: jest.fn<Promise<void>, Parameters<RegistryPart['setCompatibility']>>(async () => undefined),
    isCompatible: jest.fn<Promise<boolean>, Parameters<RegistryPart['isCompatible']>>(async () => true),
    register: jest.fn<Promise<number>, Parameters<RegistryPart['register']>>(async (subject) => idBySubject[subject]),
    getType: jest.fn<Promise<Type>, [number]>(async (schemaId) => {
      const type = types.get(schemaId);
      // What SchemaRegistryAdapter.getType does with the client's 404.
      if (!type) throw toRegistryError(Object.assign(new Error('Schema not found'), { status: 404 }), { schemaId });
      return type;
    }),
  } satisfies RegistryPart & { types: Map<number, Type> };
  return stub;
}

async function registeredCodec(registry = stubRegistry()) {
  const codec = new AvroCodec(registry as unknown as SchemaRegistryAdapter, TOPICS);
  await codec.registerAll();
  return { codec, registry };
}

// ---------- golden records and their bytes ----------

const META = { lang: 'fr', tenant: 'acme' };
const RAW: RawText = { id: 'req-1', text: 'héllo', createdAt: 1_700_000_000_000, source: 'test', metadata: META };
const TOKENIZED: TokenizedText = {
  id: 'req-1',
  inputIds: [101, 7592, 102],
  tokenCount: 3,
  truncated: false,
  tokenizer: 'minilm-spam@1',
  createdAt: 1_700_000_000_000,
  tokenizedAt: 1_700_000_000_005,
  source: 'test',
  metadata: META,
};
const PREDICTION: Prediction = {
  id: 'req-1',
  label: 'spam',
  score: 0.75,
  scores: { ham: 0.25, spam: 0.75 },
  model: 'minilm-spam',
  modelVersion: '1',
  createdAt: 1_700_000_000_000,
  tokenizedAt: 1_700_000_000_005,
  predictedAt: 1_700_000_000_010,
  batchSize: 4,
  truncated: false,
  source: 'test',
  metadata: META,
};

const golden = (name: string): Buffer =>
  Buffer.from(
    readFileSync(join(projectRoot(), 'test', 'fixtures', 'wire', `${name}-v1.hex`), 'utf8').replace(/\s+/g, ''),
    'hex',
  );

const ascii = (s: string) => [...Buffer.from(s, 'utf8')];

// raw-v1.hex derived by hand from the Avro spec (independently of avsc):
const RAW_BY_HAND = [
  // Confluent header: magic 0, schema id 1 as a big-endian uint32
  0x00,
  0x00,
  0x00,
  0x00,
  0x01,
  // id: string = zig-zag varint length (5 → 10 = 0x0a), then UTF-8 bytes
  0x0a,
  ...ascii('req-1'),
  // text: 'héllo' is 6 UTF-8 bytes (é = c3 a9) → length 12 = 0x0c
  0x0c,
  0x68,
  0xc3,
  0xa9,
  0x6c,
  0x6c,
  0x6f,
  // createdAt: long 1_700_000_000_000 → zig-zag 3_400_000_000_000, 7-bit groups low first:
  // 0, 32, 43, 126, 121, 98 → 0x80 0xa0 0xab 0xfe 0xf9 0x62 (high bit = more bytes follow)
  0x80,
  0xa0,
  0xab,
  0xfe,
  0xf9,
  0x62,
  // source: union ["null","string"], branch index 1 → zig-zag 2, then the string 'test'
  0x02,
  0x08,
  ...ascii('test'),
  // metadata: map block of 2 entries (zig-zag 4), key/value strings, then the 0 end-of-map block
  0x04,
  0x08,
  ...ascii('lang'),
  0x04,
  ...ascii('fr'),
  0x0c,
  ...ascii('tenant'),
  0x08,
  ...ascii('acme'),
  0x00,
];

describe('AvroCodec golden bytes', () => {
  it('raw-v1.hex is exactly the hand-derived Confluent/Avro encoding', () => {
    expect([...golden('raw')]).toEqual(RAW_BY_HAND);
  });

  it.each([
    ['raw', RAW],
    ['tokenized', TOKENIZED],
    ['prediction', PREDICTION],
  ] as const)('encodes the %s example to its golden bytes and decodes them back', async (kind, record) => {
    const { codec } = await registeredCodec();
    const bytes = golden(kind);
    expect(bytes.readUInt32BE(1)).toBe(IDS[kind]);
    expect(codec.encode(kind, record as never).toString('hex')).toBe(bytes.toString('hex'));
    expect(await codec.decode(kind, bytes)).toEqual(record);
  });

  it('encodes a null source as union branch 0 and an empty map as a single 0 block', async () => {
    const { codec } = await registeredCodec();
    const bytes = codec.encode('raw', { id: 'a', text: 'b', createdAt: -1, source: null, metadata: {} });
    // -1 zig-zags to 1
    expect([...bytes]).toEqual([0, 0, 0, 0, 1, 0x02, 0x61, 0x02, 0x62, 0x01, 0x00, 0x00]);
    expect(await codec.decode('raw', bytes)).toEqual({ id: 'a', text: 'b', createdAt: -1, source: null, metadata: {} });
  });
});

describe('AvroCodec registration', () => {
  it('sets the compatibility level and registers each schema under <topic>-value', async () => {
    const { codec, registry } = await registeredCodec();
    expect(codec.registered).toBe(true);
    expect(codec.schemaId('prediction')).toBe(3);
    expect(registry.setCompatibility.mock.calls).toEqual([
      ['raw-value', 'BACKWARD'],
      ['tokenized-value', 'BACKWARD'],
      ['predictions-value', 'BACKWARD'],
    ]);
    expect(registry.register).toHaveBeenCalledWith('raw-value', readSchemaFile('raw'), 'BACKWARD');
  });

  it('returns the ids by record kind', async () => {
    const codec = new AvroCodec(stubRegistry() as unknown as SchemaRegistryAdapter, TOPICS);
    await expect(codec.registerAll()).resolves.toEqual({ raw: 1, tokenized: 2, prediction: 3 });
  });

  it('refuses to register a schema the registry reports incompatible', async () => {
    const registry = stubRegistry();
    registry.isCompatible.mockImplementation(async (subject) => subject !== 'tokenized-value');
    const codec = new AvroCodec(registry as unknown as SchemaRegistryAdapter, TOPICS);
    await expect(codec.registerAll()).rejects.toThrow(SchemaIncompatibleError);
    await expect(codec.registerAll()).rejects.toThrow(/tokenized-value/);
    expect(codec.registered).toBe(false);
  });

  it('cannot encode before the schemas are registered', () => {
    const codec = new AvroCodec(stubRegistry() as unknown as SchemaRegistryAdapter, TOPICS);
    expect(() => codec.encode('raw', RAW)).toThrow(/not registered yet/);
  });
});

describe('AvroCodec errors', () => {
  it.each([
    ['null', null],
    ['a short buffer', Buffer.from([0, 0, 1])],
    ['a non-zero magic byte', Buffer.concat([Buffer.from([1]), golden('raw').subarray(1)])],
  ])('rejects %s with InvalidWireFormatError, without asking the registry', async (_name, value) => {
    const { codec, registry } = await registeredCodec();
    const error = await codec.decode('raw', value).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidWireFormatError);
    expect(isCodecError(error)).toBe(true);
    expect(registry.getType).not.toHaveBeenCalled();
  });

  it('rejects a truncated body with AvroDecodeError', async () => {
    const { codec } = await registeredCodec();
    const bytes = golden('raw');
    await expect(codec.decode('raw', bytes.subarray(0, bytes.length - 3))).rejects.toThrow(AvroDecodeError);
  });

  it('rejects trailing garbage with AvroDecodeError naming the schema id', async () => {
    const { codec } = await registeredCodec();
    const bytes = Buffer.concat([golden('raw'), Buffer.from([0xde, 0xad])]);
    const error = await codec.decode('raw', bytes).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AvroDecodeError);
    expect((error as AvroDecodeError).message).toMatch(/raw \(schema id 1\)/);
    expect((error as AvroDecodeError).transient).toBe(false);
  });

  it('rejects a prediction read as raw with IncompatibleRecordError', async () => {
    const { codec } = await registeredCodec();
    const error = await codec.decode('raw', golden('prediction')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IncompatibleRecordError);
    expect((error as Error).message).toMatch(/schema id 3 .*cannot be read as a raw record/);
  });

  it('rejects an unknown schema id with UnknownSchemaIdError', async () => {
    const { codec } = await registeredCodec();
    const bytes = Buffer.from(golden('raw'));
    bytes.writeUInt32BE(99, 1);
    const error = await codec.decode('raw', bytes).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownSchemaIdError);
    expect((error as UnknownSchemaIdError).schemaId).toBe(99);
    expect((error as UnknownSchemaIdError).transient).toBe(false);
  });

  it.each([
    ['text', { ...RAW, text: 42 }, ['text']],
    ['createdAt', { ...RAW, createdAt: 'yesterday' }, ['createdAt']],
    ['metadata.tenant', { ...RAW, metadata: { tenant: 7 } }, ['metadata.tenant']],
    ['id and source', { ...RAW, id: undefined, source: 3 }, ['id', 'source']],
  ])('refuses to encode a bad %s and names the field path', async (_name, record, paths) => {
    const { codec } = await registeredCodec();
    const error = (() => {
      try {
        codec.encode('raw', record as unknown as RawText);
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(AvroEncodeError);
    expect((error as AvroEncodeError).paths).toEqual(paths);
    for (const path of paths) expect((error as AvroEncodeError).message).toContain(path);
  });
});

describe('AvroCodec writer schemas', () => {
  it('reads an older writer schema (BACKWARD evolution) filling the defaults', async () => {
    const registry = stubRegistry();
    const v0 = Type.forSchema({
      type: 'record',
      name: 'RawText',
      namespace: 'io.textclf.v1',
      fields: [
        { name: 'id', type: 'string' },
        { name: 'text', type: 'string' },
        { name: 'createdAt', type: 'long' },
      ],
    });
    registry.types.set(10, v0);
    const { codec } = await registeredCodec(registry);
    const bytes = Buffer.concat([Buffer.from([0, 0, 0, 0, 10]), v0.toBuffer({ id: 'old', text: 'hi', createdAt: 5 })]);
    expect(await codec.decode('raw', bytes)).toEqual({
      id: 'old',
      text: 'hi',
      createdAt: 5,
      source: null,
      metadata: {},
    });
  });

  it('fetches a writer schema once and reuses it', async () => {
    const { codec, registry } = await registeredCodec();
    await codec.decode('raw', golden('raw'));
    await codec.decode('raw', golden('raw'));
    expect(registry.getType).toHaveBeenCalledTimes(1);
  });

  it('does not cache a transient registry failure: the next decode succeeds once the registry is back', async () => {
    const registry = stubRegistry();
    const { codec } = await registeredCodec(registry);
    registry.getType.mockRejectedValueOnce(
      toRegistryError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8081'), { status: 400 }), {
        schemaId: 1,
      }),
    );
    const first = await codec.decode('raw', golden('raw')).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(RegistryUnavailableError);
    expect((first as RegistryUnavailableError).transient).toBe(true);
    expect(await codec.decode('raw', golden('raw'))).toEqual(RAW);
    expect(registry.getType).toHaveBeenCalledTimes(2);
  });
});
