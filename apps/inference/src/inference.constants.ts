export const MODEL_INFO = Symbol('MODEL_INFO');
export const CLASSIFIER = Symbol('CLASSIFIER');
