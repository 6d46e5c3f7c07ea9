export * from './app-config';
export * from './config.constants';
export * from './config.errors';
export * from './config.module';
export * from './project-root';
export * from './clock';
