export const TOKENIZED_DESERIALIZER = Symbol('TOKENIZED_DESERIALIZER');
export const PREDICTION_SERIALIZER = Symbol('PREDICTION_SERIALIZER');
export const MODEL_INFO = Symbol('MODEL_INFO');
export const CLASSIFIER = Symbol('CLASSIFIER');
export const STAGE = 'inference';
