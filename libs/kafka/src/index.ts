export * from './dlq';
export * from './kafka-client.factory';
export * from './kafka-producer.adapter';
export * from './kafka.constants';
export * from './retry';
export * from './topic-admin';
