import { randomBytes } from 'node:crypto';

/** A random suffix so that every test gets its own topics and consumer groups. */
export const uniqueSuffix = (): string => `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;

export const uniqueName = (prefix: string): string => `${prefix}-${uniqueSuffix()}`;
