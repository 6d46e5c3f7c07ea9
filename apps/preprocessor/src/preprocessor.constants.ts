/** "name@version" of the model whose tokenizer runs here; written into every tokenized record. */
export const MODEL_ID = Symbol('MODEL_ID');
export const MODEL_INFO = Symbol('MODEL_INFO');
