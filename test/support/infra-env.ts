import { loadConfig } from '@app/config';

/** Where the real Kafka and registry are for the tests (the same env vars as the services). */
export const testConfig = loadConfig(process.env);
export const BROKERS = testConfig.kafka.brokers;
export const REGISTRY_URL = testConfig.registry.url;
