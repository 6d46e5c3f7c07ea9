export * from './avro-codec';
export * from './codec.errors';
export * from './records';
export * from './schema-files';
export * from './schema-registry.adapter';
export * from './wire-format';
export * from './avro.module';
