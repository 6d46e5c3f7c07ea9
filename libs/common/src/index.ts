export * from './is-object';
export * from './retry';
export * from './text-rules';
export * from './record-signature';
export * from './throttled-log';
