export * from './is-object';
export * from './retry';
export * from './text-rules';
