import { join, resolve } from 'node:path';
import { ConfigError } from './config.errors';
import { projectRoot } from './project-root';
import { Env, readBrokers, readEnum, readInt, readString, readTopic, readUrl } from './env-readers';

export const INFERENCE_DEVICES = ['auto', 'cpu', 'cuda', 'webgpu'] as const;
export type InferenceDevice = (typeof INFERENCE_DEVICES)[number];

export const GRAPH_OPTIMIZATION_LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;
export type GraphOptimizationLevel = (typeof GRAPH_OPTIMIZATION_LEVELS)[number];

/** The default model committed in the repo (README.md, "The default model"). */
export const DEFAULT_MODEL_DIR = join(projectRoot(), 'models', 'minilm-spam');

/** What every service reads: where Kafka and the registry are, the topics, the ports, the retry policy. */
export interface CommonConfig {
  kafka: {
    brokers: string[];
    clientId: string;
    groupIdPrefix: string;
    /** A fetch waits for this many bytes, or fetchMaxWaitMs, whichever comes first (fetch.min.bytes). */
    fetchMinBytes: number;
    fetchMaxWaitMs: number;
    /** The broker drops a consumer that has not heartbeated for this long; its partitions move on. */
    sessionTimeoutMs: number;
    heartbeatIntervalMs: number;
    /** How long the group waits for every member to rejoin on a rebalance. */
    rebalanceTimeoutMs: number;
    /** Kafka counts as reachable while a consumer heard from a broker within this window. */
    healthWindowMs: number;
    /** A crashed consumer is restarted after a backoff that doubles up to this. */
    restartMaxBackoffMs: number;
  };
  registry: { url: string };
  topics: { raw: string; tokenized: string; predictions: string; partitions: number };
  ports: { gateway: number; preprocessor: number; inference: number };
  delivery: { maxRetries: number; retryBackoffMs: number; dlqTruncatedValueBytes: number };
}

/** A consuming stage (preprocessor, inference): the stage runtime's tunables and the model. */
export interface StageConfig extends CommonConfig {
  stage: {
    /** Records handed to the handler and not yet acknowledged above which fetching pauses (resumes at half). */
    maxInFlight: number;
    /** SIGTERM: how long the work in flight may take to be produced and committed. */
    drainTimeoutMs: number;
    /** A rebalance: how long the work in flight may take to be committed before this member rejoins. */
    revokeTimeoutMs: number;
    /** How often consumer lag is read through the admin client for /metrics; 0 turns it off. */
    lagIntervalMs: number;
  };
  model: { dir: string };
}

export interface GatewayConfig extends CommonConfig {
  limits: { maxTextBytes: number; maxBodyBytes: number; maxTextsPerRequest: number; predictTimeoutMs: number };
  /** A produce that Kafka does not acknowledge within this bound is answered 503. */
  gateway: { produceTimeoutMs: number };
  /** Where the gateway's status page reads the stages' health and metrics. */
  status: { preprocessorUrl: string; inferenceUrl: string };
}

export interface PreprocessorConfig extends StageConfig {
  limits: { maxTextBytes: number };
}

export interface InferenceConfig extends StageConfig {
  batch: { maxSize: number; maxWaitMs: number; maxTokens: number; minTokenEfficiency: number };
  inference: {
    device: InferenceDevice;
    intraOpThreads: number;
    graphOptimization: GraphOptimizationLevel;
    /** Whether idle intra-op threads busy-wait for the next run (onnxruntime's allow_spinning). */
    allowSpinning: boolean;
    /** Model sessions running batches side by side; 0 = 2 on a multi-core CPU, 1 on a GPU. */
    sessions: number;
  };
}

/** Every setting (tools, tests and the bench, which drive all three services). */
export type AppConfig = GatewayConfig & PreprocessorConfig & InferenceConfig;

export function loadCommonConfig(env: Env = process.env): CommonConfig {
  const sessionTimeoutMs = readInt(env, 'KAFKA_SESSION_TIMEOUT_MS', 10_000, 6_000, 300_000);
  const config: CommonConfig = {
    kafka: {
      brokers: readBrokers(env, 'KAFKA_BROKERS', 'localhost:9092'),
      clientId: readString(env, 'KAFKA_CLIENT_ID', 'text-classifier'),
      // Consumer groups are <prefix>preprocessor, <prefix>inference and <prefix>gateway-<uuid>.
      groupIdPrefix: readString(env, 'KAFKA_GROUP_ID_PREFIX', ''),
      // The stage consumers let the broker gather up to 64 KiB for at most 20 ms per fetch: under a
      // trickle of records this cut the per-record CPU of Kafka and the preprocessor (bench/README.md).
      fetchMinBytes: readInt(env, 'KAFKA_FETCH_MIN_BYTES', 65_536, 1, 100_000_000),
      fetchMaxWaitMs: readInt(env, 'KAFKA_FETCH_MAX_WAIT_MS', 20, 1, 60_000),
      sessionTimeoutMs,
      heartbeatIntervalMs: readInt(env, 'KAFKA_HEARTBEAT_INTERVAL_MS', 1_000, 100, 60_000),
      rebalanceTimeoutMs: readInt(env, 'KAFKA_REBALANCE_TIMEOUT_MS', 30_000, 1_000, 600_000),
      healthWindowMs: readInt(env, 'KAFKA_HEALTH_WINDOW_MS', 3_000, 500, 600_000),
      restartMaxBackoffMs: readInt(env, 'KAFKA_RESTART_MAX_BACKOFF_MS', 2_000, 100, 600_000),
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
    delivery: {
      maxRetries: readInt(env, 'DELIVERY_MAX_RETRIES', 5, 0, 100),
      retryBackoffMs: readInt(env, 'DELIVERY_RETRY_BACKOFF_MS', 200, 0, 60_000),
      // A DLQ copy the broker refuses as too large is replaced by its first bytes, flagged dlq.truncated.
      dlqTruncatedValueBytes: readInt(env, 'DLQ_TRUNCATED_VALUE_BYTES', 65_536, 0, 100_000_000),
    },
  };
  if (config.kafka.heartbeatIntervalMs * 3 > sessionTimeoutMs) {
    throw new ConfigError('KAFKA_HEARTBEAT_INTERVAL_MS', `must be at most a third of KAFKA_SESSION_TIMEOUT_MS`);
  }
  return config;
}

function loadStageConfig(env: Env, defaultMaxInFlight: number): StageConfig {
  const common = loadCommonConfig(env);
  const revokeTimeoutMs = readInt(env, 'STAGE_REVOKE_TIMEOUT_MS', 10_000, 0, 600_000);
  if (revokeTimeoutMs >= common.kafka.rebalanceTimeoutMs) {
    throw new ConfigError('STAGE_REVOKE_TIMEOUT_MS', `must be below KAFKA_REBALANCE_TIMEOUT_MS`);
  }
  return {
    ...common,
    stage: {
      maxInFlight: readInt(env, 'STAGE_MAX_IN_FLIGHT', defaultMaxInFlight, 1, 1_000_000),
      drainTimeoutMs: readInt(env, 'STAGE_DRAIN_TIMEOUT_MS', 30_000, 0, 600_000),
      revokeTimeoutMs,
      lagIntervalMs: readInt(env, 'METRICS_LAG_INTERVAL_MS', 5_000, 0, 3_600_000),
    },
    model: { dir: resolve(readString(env, 'MODEL_DIR', DEFAULT_MODEL_DIR)) },
  };
}

const readMaxTextBytes = (env: Env) => readInt(env, 'MAX_TEXT_BYTES', 65_536, 1, 10_000_000);

export function loadGatewayConfig(env: Env = process.env): GatewayConfig {
  const common = loadCommonConfig(env);
  return {
    ...common,
    limits: {
      maxTextBytes: readMaxTextBytes(env),
      maxBodyBytes: readInt(env, 'MAX_BODY_BYTES', 4_194_304, 1024, 100_000_000),
      maxTextsPerRequest: readInt(env, 'MAX_TEXTS_PER_REQUEST', 256, 1, 100_000),
      predictTimeoutMs: readInt(env, 'PREDICT_TIMEOUT_MS', 10_000, 1, 600_000),
    },
    gateway: { produceTimeoutMs: readInt(env, 'PRODUCE_TIMEOUT_MS', 5_000, 1, 600_000) },
    status: {
      preprocessorUrl: readUrl(env, 'PREPROCESSOR_URL', `http://localhost:${common.ports.preprocessor}`),
      inferenceUrl: readUrl(env, 'INFERENCE_URL', `http://localhost:${common.ports.inference}`),
    },
  };
}

export function loadPreprocessorConfig(env: Env = process.env): PreprocessorConfig {
  return { ...loadStageConfig(env, 4096), limits: { maxTextBytes: readMaxTextBytes(env) } };
}

export function loadInferenceConfig(env: Env = process.env): InferenceConfig {
  // BATCH_QUEUE_HIGH_WATER, the older name, sets inference's default; STAGE_MAX_IN_FLIGHT wins.
  const stage = loadStageConfig(env, readInt(env, 'BATCH_QUEUE_HIGH_WATER', 2048, 1, 1_000_000));
  const config: InferenceConfig = {
    ...stage,
    batch: {
      maxSize: readInt(env, 'BATCH_MAX_SIZE', 32, 1, 4096),
      maxWaitMs: readInt(env, 'BATCH_MAX_WAIT_MS', 10, 0, 60_000),
      maxTokens: readInt(env, 'BATCH_MAX_TOKENS', 1024, 1, 10_000_000),
      // Percent of a batch's padded tokens that must be real (BATCH_MIN_TOKEN_EFFICIENCY=80 → 0.8).
      minTokenEfficiency: readInt(env, 'BATCH_MIN_TOKEN_EFFICIENCY', 80, 0, 100) / 100,
    },
    inference: {
      device: readEnum(env, 'INFERENCE_DEVICE', 'auto', INFERENCE_DEVICES),
      // 0: the cores divided between the sessions (onnxruntime's own choice for a single session).
      intraOpThreads: readInt(env, 'ORT_INTRA_OP_THREADS', 0, 0, 1024),
      graphOptimization: readEnum(env, 'ORT_GRAPH_OPTIMIZATION', 'all', GRAPH_OPTIMIZATION_LEVELS),
      allowSpinning: readEnum(env, 'ORT_ALLOW_SPINNING', '1', ['0', '1'] as const) === '1',
      sessions: readInt(env, 'ORT_SESSIONS', 0, 0, 64),
    },
  };
  if (config.batch.maxTokens < config.batch.maxSize) {
    throw new ConfigError('BATCH_MAX_TOKENS', `must be at least BATCH_MAX_SIZE (${config.batch.maxSize})`);
  }
  return config;
}

/** Reads every setting once; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Env = process.env): AppConfig {
  const gateway = loadGatewayConfig(env);
  const preprocessor = loadPreprocessorConfig(env);
  const inference = loadInferenceConfig(env);
  return { ...preprocessor, ...inference, ...gateway, limits: { ...gateway.limits } };
}
