export * from './text-tokenizer';
export * from './tokenizer.errors';
