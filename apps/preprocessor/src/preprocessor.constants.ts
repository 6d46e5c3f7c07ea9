export const RAW_DESERIALIZER = Symbol('RAW_DESERIALIZER');
export const TOKENIZED_SERIALIZER = Symbol('TOKENIZED_SERIALIZER');
/** "name@version" of the model whose tokenizer runs here; written into every tokenized record. */
export const MODEL_ID = Symbol('MODEL_ID');
/** The Nest pattern of raw records; AvroKafkaServer maps it to TOPIC_RAW. */
export const RAW_PATTERN = 'raw';
