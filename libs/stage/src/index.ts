export * from './batching/batcher';
export * from './consumer-lag';
export * from './decode-with-retry';
export * from './output-writer';
export * from './pipelines';
export * from './stage-runtime';
export * from './stage.module';
export * from './stage.types';
