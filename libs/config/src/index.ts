export * from './app-config';
export * from './config.constants';
export * from './config.errors';
export * from './config.module';
export * from './project-root';
export * from './clock';
export * from './secret';
export * from './security-config';
