export * from './deferred';
export * from './unique';
export * from './wait-for';
export * from './service-process';
export * from './topic-reader';
export * from './fixtures';
export * from './secure-infra';
export * from './auth-proxy';
