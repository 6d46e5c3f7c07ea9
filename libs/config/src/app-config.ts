import { join, resolve } from 'node:path';
import { ConfigError } from './config.errors';
import { projectRoot } from './project-root';
import { Env, readBrokers, readEnum, readInt, readString, readTopic, readUrl } from './env-readers';

export const INFERENCE_DEVICES = ['auto', 'cpu', 'cuda', 'webgpu'] as const;
export type InferenceDevice = (typeof INFERENCE_DEVICES)[number];

export const GRAPH_OPTIMIZATION_LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;
export type GraphOptimizationLevel = (typeof GRAPH_OPTIMIZATION_LEVELS)[number];

/** The default model committed in the repo (DESIGN.md: MODEL_DIR → the committed default model). */
export const DEFAULT_MODEL_DIR = join(projectRoot(), 'models', 'bge-small-zh-news');

export interface AppConfig {
  kafka: {
    brokers: string[];
    clientId: string;
    groupIdPrefix: string;
    /** A fetch waits for this many bytes, or fetchMaxWaitMs, whichever comes first (fetch.min.bytes). */
    fetchMinBytes: number;
    fetchMaxWaitMs: number;
  };
  registry: { url: string };
  topics: { raw: string; tokenized: string; predictions: string; partitions: number };
  ports: { gateway: number; preprocessor: number; inference: number };
  model: { dir: string };
  batch: { maxSize: number; maxWaitMs: number; maxTokens: number; minTokenEfficiency: number; queueHighWater: number };
  inference: {
    device: InferenceDevice;
    intraOpThreads: number;
    graphOptimization: GraphOptimizationLevel;
    /** Whether idle intra-op threads busy-wait for the next run (onnxruntime's allow_spinning). */
    allowSpinning: boolean;
    /** Model sessions running batches side by side; 0 = 2 on a multi-core CPU, 1 on a GPU. */
    sessions: number;
  };
  limits: { maxTextBytes: number; maxBodyBytes: number; maxTextsPerRequest: number; predictTimeoutMs: number };
  delivery: { maxRetries: number; retryBackoffMs: number };
}

/** Reads every setting once; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Env = process.env): AppConfig {
  const config: AppConfig = {
    kafka: {
      brokers: readBrokers(env, 'KAFKA_BROKERS', 'localhost:9092'),
      clientId: readString(env, 'KAFKA_CLIENT_ID', 'text-classifier'),
      // Consumer groups are <prefix>preprocessor, <prefix>inference and <prefix>gateway-<uuid>.
      groupIdPrefix: readString(env, 'KAFKA_GROUP_ID_PREFIX', ''),
      // The stage consumers let the broker gather up to 64 KiB for at most 20 ms per fetch: under a
      // trickle of records this cut the per-record CPU of Kafka and the preprocessor (bench/README.md).
      fetchMinBytes: readInt(env, 'KAFKA_FETCH_MIN_BYTES', 65_536, 1, 100_000_000),
      fetchMaxWaitMs: readInt(env, 'KAFKA_FETCH_MAX_WAIT_MS', 20, 1, 60_000),
    },
    registry: { url: readUrl(env, 'SCHEMA_REGISTRY_URL', 'http://localhost:8081/apis/ccompat/v7') },
    topics: {
      raw: readTopic(env, 'TOPIC_RAW', 'raw'),
      tokenized: readTopic(env, 'TOPIC_TOKENIZED', 'tokenized'),
      predictions: readTopic(env, 'TOPIC_PREDICTIONS', 'predictions'),
      partitions: readInt(env, 'TOPIC_PARTITIONS', 3, 1, 10_000),
    },
    ports: {
      gateway: readInt(env, 'GATEWAY_PORT', 3000, 0, 65535),
      preprocessor: readInt(env, 'PREPROCESSOR_PORT', 3001, 0, 65535),
      inference: readInt(env, 'INFERENCE_PORT', 3002, 0, 65535),
    },
    model: { dir: resolve(readString(env, 'MODEL_DIR', DEFAULT_MODEL_DIR)) },
    batch: {
      maxSize: readInt(env, 'BATCH_MAX_SIZE', 32, 1, 4096),
      maxWaitMs: readInt(env, 'BATCH_MAX_WAIT_MS', 10, 0, 60_000),
      maxTokens: readInt(env, 'BATCH_MAX_TOKENS', 1024, 1, 10_000_000),
      // Percent of a batch's padded tokens that must be real (BATCH_MIN_TOKEN_EFFICIENCY=80 → 0.8).
      minTokenEfficiency: readInt(env, 'BATCH_MIN_TOKEN_EFFICIENCY', 80, 0, 100) / 100,
      // Records handed over and not yet acknowledged above which the consumer pauses (resumes at half).
      queueHighWater: readInt(env, 'BATCH_QUEUE_HIGH_WATER', 2048, 1, 1_000_000),
    },
    inference: {
      device: readEnum(env, 'INFERENCE_DEVICE', 'auto', INFERENCE_DEVICES),
      // 0: the cores divided between the sessions (onnxruntime's own choice for a single session).
      intraOpThreads: readInt(env, 'ORT_INTRA_OP_THREADS', 0, 0, 1024),
      graphOptimization: readEnum(env, 'ORT_GRAPH_OPTIMIZATION', 'all', GRAPH_OPTIMIZATION_LEVELS),
      allowSpinning: readEnum(env, 'ORT_ALLOW_SPINNING', '1', ['0', '1'] as const) === '1',
      sessions: readInt(env, 'ORT_SESSIONS', 0, 0, 64),
    },
    limits: {
      maxTextBytes: readInt(env, 'MAX_TEXT_BYTES', 65_536, 1, 10_000_000),
      maxBodyBytes: readInt(env, 'MAX_BODY_BYTES', 4_194_304, 1024, 100_000_000),
      maxTextsPerRequest: readInt(env, 'MAX_TEXTS_PER_REQUEST', 256, 1, 100_000),
      predictTimeoutMs: readInt(env, 'PREDICT_TIMEOUT_MS', 10_000, 1, 600_000),
    },
    delivery: {
      maxRetries: readInt(env, 'DELIVERY_MAX_RETRIES', 5, 0, 100),
      retryBackoffMs: readInt(env, 'DELIVERY_RETRY_BACKOFF_MS', 200, 0, 60_000),
    },
  };
  if (config.batch.maxTokens < config.batch.maxSize) {
    throw new ConfigError('BATCH_MAX_TOKENS', `must be at least BATCH_MAX_SIZE (${config.batch.maxSize})`);
  }
  return config;
}
