import { randomInt } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from './config.errors';
import { projectRoot } from './project-root';
import { Env, readBrokers, readEnum, readInt, readString, readTopic, readUrl } from './env-readers';
import { Secret } from './secret';
import {
  KafkaSecurity,
  loadKafkaSecurity,
  loadRegistryAuth,
  loadSigningKey,
  readSecret,
  RegistryAuth,
} from './security-config';

export const INFERENCE_DEVICES = ['auto', 'cpu', 'cuda', 'webgpu'] as const;
export type InferenceDevice = (typeof INFERENCE_DEVICES)[number];

/** What a stage promises about its outputs (docs/ARCHITECTURE.md, "Delivery"). */
export const DELIVERY_MODES = ['at-least-once', 'exactly-once'] as const;
export type DeliveryMode = (typeof DELIVERY_MODES)[number];

/** How a consumer group's partitions are spread over its members (docs/ARCHITECTURE.md, "The partition assignor"). */
export const PARTITION_ASSIGNORS = ['sticky', 'roundrobin'] as const;
export type PartitionAssignorName = (typeof PARTITION_ASSIGNORS)[number];

export const GRAPH_OPTIMIZATION_LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;
export type GraphOptimizationLevel = (typeof GRAPH_OPTIMIZATION_LEVELS)[number];

/** The default model committed in the repo (README.md, "The default model"). */
export const DEFAULT_MODEL_DIR = join(projectRoot(), 'models', 'bge-small-zh-news');

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
    /** The stages' partition assignor (KAFKA_PARTITION_ASSIGNOR). */
    partitionAssignor: PartitionAssignorName;
    /** Kafka counts as reachable while a consumer heard from a broker within this window. */
    healthWindowMs: number;
    /** A crashed consumer is restarted after a backoff that doubles up to this. */
    restartMaxBackoffMs: number;
    /** TLS and SASL (docs/security.md). */
    security: KafkaSecurity;
    /** Whether services create missing topics (off where an operator owns them, or ACLs forbid it). */
    createTopics: boolean;
    /** The broker's max.message.bytes: the gateway's limits are checked against it at boot. */
    maxMessageBytes: number;
  };
  registry: { url: string; auth: RegistryAuth };
  /** HMAC-SHA256 key: inference signs each prediction, the gateway accepts only signed ones. */
  signingKey?: Secret;
  /** replicationFactor: TOPIC_REPLICATION_FACTOR, if set; else chosen from the cluster at topic creation. */
  topics: {
    raw: string;
    tokenized: string;
    predictions: string;
    partitions: number;
    /** Sync /predict replies: inference writes each one to the partition its gateway named (docs/ARCHITECTURE.md, "Replies"). */
    replies: string;
    /** Partitions of the replies topic: at least one per gateway instance. */
    replyPartitions: number;
    replicationFactor?: number;
  };
  /** `host`: the interface every service's HTTP server binds to (HTTP_HOST). */
  ports: { gateway: number; preprocessor: number; inference: number; host: string };
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
    /** at-least-once: produce, then commit; exactly-once: outputs and offsets in one Kafka transaction. */
    delivery: DeliveryMode;
    /** At least this long between two commits (exactly-once: between two transactions of a partition). */
    commitIntervalMs: number;
    /** Where the consumer records its group member id for the next process in its place (docs/ARCHITECTURE.md, "Restarts"). */
    stateDir: string;
    /** What stays the same when this instance restarts (the host or pod name): keys its state file. */
    instanceId: string;
  };
  model: { dir: string };
}

export interface GatewayConfig extends CommonConfig {
  limits: {
    maxTextBytes: number;
    maxBodyBytes: number;
    maxTextsPerRequest: number;
    predictTimeoutMs: number;
    maxMetadataEntries: number;
    /** UTF-8 bytes of a metadata map's keys and values together. */
    maxMetadataBytes: number;
  };
  gateway: {
    /** A produce that Kafka does not acknowledge within this bound is answered 503. */
    produceTimeoutMs: number;
    /** Accepted API keys (empty: no keys asked). */
    apiKeys: Secret[];
    /** A separate port for /metrics (0: /metrics is on the main port). */
    metricsPort: number;
    /** /metrics on the main port asks for an API key. */
    metricsRequireKey: boolean;
    /** Requests per second per API key (or client address without keys); 0 = no limit. */
    rateLimitPerSecond: number;
    rateLimitBurst: number;
    /** Texts waiting for a prediction above which /predict answers 503 at once. */
    maxPendingReplies: number;
    /** The partition of the replies topic this instance reads (GATEWAY_REPLY_PARTITION; unset: one at random). */
    replyPartition: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
    /** Origins allowed by CORS; empty = no CORS headers (browsers block cross-site calls). */
    corsOrigins: string[];
  };
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
    /** On a CPU split between sessions, one more with every thread for a batch that runs alone (OnnxClassifier). */
    latencySession: boolean;
  };
}

/** Every setting (tools, tests and the bench, which drive all three services). */
export type AppConfig = GatewayConfig & PreprocessorConfig & InferenceConfig;

export function loadCommonConfig(env: Env = process.env): CommonConfig {
  const sessionTimeoutMs = readInt(env, 'KAFKA_SESSION_TIMEOUT_MS', 6_000, 6_000, 300_000);
  const registryUrl = readUrl(env, 'SCHEMA_REGISTRY_URL', 'http://localhost:8081/apis/ccompat/v7');
  const config: CommonConfig = {
    kafka: {
      brokers: readBrokers(env, 'KAFKA_BROKERS', 'localhost:9092'),
      clientId: readString(env, 'KAFKA_CLIENT_ID', 'text-classifier'),
      // Consumer groups are <prefix>preprocessor, <prefix>inference and <prefix>gateway-<uuid>.
      groupIdPrefix: readString(env, 'KAFKA_GROUP_ID_PREFIX', ''),
      // Long polls: the broker answers a stage's fetch as soon as one record is there, or after
      // 500 ms when none is. An idle stage costs 2 fetches a second and a record waits for no timer;
      // under load each answer holds what arrived during the last round trip (bench/README.md).
      fetchMinBytes: readInt(env, 'KAFKA_FETCH_MIN_BYTES', 1, 1, 100_000_000),
      fetchMaxWaitMs: readInt(env, 'KAFKA_FETCH_MAX_WAIT_MS', 500, 1, 60_000),
      sessionTimeoutMs,
      heartbeatIntervalMs: readInt(env, 'KAFKA_HEARTBEAT_INTERVAL_MS', 1_000, 100, 60_000),
      rebalanceTimeoutMs: readInt(env, 'KAFKA_REBALANCE_TIMEOUT_MS', 30_000, 1_000, 600_000),
      // sticky: a join or leave moves only the partitions that must move (docs/ARCHITECTURE.md, "The partition assignor").
      partitionAssignor: readEnum(env, 'KAFKA_PARTITION_ASSIGNOR', 'sticky', PARTITION_ASSIGNORS),
      healthWindowMs: readInt(env, 'KAFKA_HEALTH_WINDOW_MS', 3_000, 500, 600_000),
      restartMaxBackoffMs: readInt(env, 'KAFKA_RESTART_MAX_BACKOFF_MS', 2_000, 100, 600_000),
      security: loadKafkaSecurity(env),
      createTopics: readEnum(env, 'KAFKA_CREATE_TOPICS', '1', ['0', '1'] as const) === '1',
      // Kafka's default message.max.bytes (1 MiB + 12).
      maxMessageBytes: readInt(env, 'KAFKA_MAX_MESSAGE_BYTES', 1_048_588, 65_536, 1_000_000_000),
    },
    registry: { url: registryUrl, auth: loadRegistryAuth(env, registryUrl) },
    signingKey: loadSigningKey(env),
    topics: {
      raw: readTopic(env, 'TOPIC_RAW', 'raw'),
      tokenized: readTopic(env, 'TOPIC_TOKENIZED', 'tokenized'),
      predictions: readTopic(env, 'TOPIC_PREDICTIONS', 'predictions'),
      partitions: readInt(env, 'TOPIC_PARTITIONS', 3, 1, 10_000),
      replies: readTopic(env, 'REPLY_TOPIC', 'replies'),
      replyPartitions: readInt(env, 'REPLY_PARTITIONS', 16, 1, 10_000),
      replicationFactor: env.TOPIC_REPLICATION_FACTOR
        ? readInt(env, 'TOPIC_REPLICATION_FACTOR', 1, 1, 32_767)
        : undefined,
    },
    ports: {
      gateway: readInt(env, 'GATEWAY_PORT', 3000, 0, 65535),
      preprocessor: readInt(env, 'PREPROCESSOR_PORT', 3001, 0, 65535),
      inference: readInt(env, 'INFERENCE_PORT', 3002, 0, 65535),
      host: readString(env, 'HTTP_HOST', '0.0.0.0'),
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
  const delivery = readEnum(env, 'DELIVERY', 'at-least-once', DELIVERY_MODES);
  if (revokeTimeoutMs >= common.kafka.rebalanceTimeoutMs) {
    throw new ConfigError('STAGE_REVOKE_TIMEOUT_MS', `must be below KAFKA_REBALANCE_TIMEOUT_MS`);
  }
  return {
    ...common,
    stage: {
      maxInFlight: readInt(env, 'STAGE_MAX_IN_FLIGHT', defaultMaxInFlight, 1, 1_000_000),
      // Below the 20-30 s after which process managers usually send SIGKILL: a drain that runs out of time
      // still commits what is done and leaves the group, so its partitions move on at once.
      drainTimeoutMs: readInt(env, 'STAGE_DRAIN_TIMEOUT_MS', 15_000, 0, 600_000),
      revokeTimeoutMs,
      lagIntervalMs: readInt(env, 'METRICS_LAG_INTERVAL_MS', 5_000, 0, 3_600_000),
      delivery,
      // exactly-once: 100 ms measured best of 0/100/500 (bench/delivery-bench.ts; docs/ARCHITECTURE.md, "Delivery").
      // at-least-once: fewer commit requests under a trickle, and a crash re-reads at most 100 ms more.
      commitIntervalMs: readInt(env, 'COMMIT_INTERVAL_MS', 100, 0, 60_000),
      stateDir: resolve(readString(env, 'STAGE_STATE_DIR', join(tmpdir(), 'kafka-text-classifier-state'))),
      instanceId: readInstanceId(env),
    },
    model: { dir: resolve(readString(env, 'MODEL_DIR', DEFAULT_MODEL_DIR)) },
  };
}

function readInstanceId(env: Env): string {
  const id = readString(env, 'STAGE_INSTANCE_ID', hostname());
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(id)) {
    throw new ConfigError('STAGE_INSTANCE_ID', `must be 1-128 letters, digits, '.', '_' or '-', got "${id}"`);
  }
  return id;
}

const readMaxTextBytes = (env: Env) => readInt(env, 'MAX_TEXT_BYTES', 65_536, 1, 10_000_000);

// Room in a raw record for its id, timestamps, source, Avro framing and the record's own overhead.
const RECORD_OVERHEAD_BYTES = 4_096;

export function loadGatewayConfig(env: Env = process.env): GatewayConfig {
  const common = loadCommonConfig(env);
  const predictTimeoutMs = readInt(env, 'PREDICT_TIMEOUT_MS', 10_000, 1, 600_000);
  const apiKeys = readApiKeys(env);
  const rateLimitPerSecond = readInt(env, 'RATE_LIMIT_PER_SECOND', 0, 0, 1_000_000);
  const config: GatewayConfig = {
    ...common,
    limits: {
      maxTextBytes: readMaxTextBytes(env),
      maxBodyBytes: readInt(env, 'MAX_BODY_BYTES', 4_194_304, 1024, 100_000_000),
      maxTextsPerRequest: readInt(env, 'MAX_TEXTS_PER_REQUEST', 256, 1, 100_000),
      predictTimeoutMs,
      maxMetadataEntries: readInt(env, 'MAX_METADATA_ENTRIES', 64, 0, 10_000),
      maxMetadataBytes: readInt(env, 'MAX_METADATA_BYTES', 16_384, 0, 10_000_000),
    },
    gateway: {
      produceTimeoutMs: readInt(env, 'PRODUCE_TIMEOUT_MS', 5_000, 1, 600_000),
      apiKeys,
      metricsPort: readInt(env, 'METRICS_PORT', 0, 0, 65535),
      metricsRequireKey:
        readEnum(env, 'METRICS_REQUIRE_KEY', apiKeys.length > 0 ? '1' : '0', ['0', '1'] as const) === '1',
      rateLimitPerSecond,
      rateLimitBurst: readInt(env, 'RATE_LIMIT_BURST', Math.max(1, rateLimitPerSecond * 2), 1, 10_000_000),
      maxPendingReplies: readInt(env, 'MAX_PENDING_REPLIES', 10_000, 1, 10_000_000),
      // Two instances on one partition both work, each fetching the other's replies too: set it per instance.
      replyPartition: readInt(
        env,
        'GATEWAY_REPLY_PARTITION',
        randomInt(common.topics.replyPartitions),
        0,
        common.topics.replyPartitions - 1,
      ),
      headersTimeoutMs: readInt(env, 'HTTP_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
      // A request body must arrive within this; the answer may take PREDICT_TIMEOUT_MS more.
      requestTimeoutMs: readInt(env, 'HTTP_REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000),
      keepAliveTimeoutMs: readInt(env, 'HTTP_KEEP_ALIVE_TIMEOUT_MS', 5_000, 100, 600_000),
      corsOrigins: readString(env, 'CORS_ORIGINS', '')
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    },
    status: {
      preprocessorUrl: readUrl(env, 'PREPROCESSOR_URL', `http://localhost:${common.ports.preprocessor}`),
      inferenceUrl: readUrl(env, 'INFERENCE_URL', `http://localhost:${common.ports.inference}`),
    },
  };
  if (config.gateway.headersTimeoutMs > config.gateway.requestTimeoutMs) {
    throw new ConfigError('HTTP_HEADERS_TIMEOUT_MS', 'must not exceed HTTP_REQUEST_TIMEOUT_MS');
  }
  if (config.gateway.metricsPort !== 0 && config.gateway.metricsPort === config.ports.gateway) {
    throw new ConfigError('METRICS_PORT', 'must differ from GATEWAY_PORT');
  }
  if (config.gateway.metricsRequireKey && apiKeys.length === 0) {
    throw new ConfigError('METRICS_REQUIRE_KEY', 'is 1 but no GATEWAY_API_KEYS are set');
  }
  // Every request within the documented limits must fit in records the broker accepts.
  const largestRecord = config.limits.maxTextBytes + config.limits.maxMetadataBytes + RECORD_OVERHEAD_BYTES;
  if (largestRecord > common.kafka.maxMessageBytes) {
    throw new ConfigError(
      'MAX_TEXT_BYTES',
      `+ MAX_METADATA_BYTES + ${RECORD_OVERHEAD_BYTES} bytes of record overhead (${largestRecord}) must not exceed KAFKA_MAX_MESSAGE_BYTES=${common.kafka.maxMessageBytes}`,
    );
  }
  return config;
}

/** GATEWAY_API_KEYS (comma-separated) or GATEWAY_API_KEYS_FILE (one per line or comma-separated, `#` comments). */
function readApiKeys(env: Env): Secret[] {
  const text = readSecret(env, 'GATEWAY_API_KEYS')?.reveal() ?? '';
  const keys = text
    .split(/\r?\n/)
    .filter((line) => !line.trim().startsWith('#'))
    .flatMap((line) => line.split(','))
    .map((k) => k.trim())
    .filter(Boolean);
  for (const key of keys) {
    if (key.length < 16 || !/^[\x21-\x7e]+$/.test(key)) {
      throw new ConfigError('GATEWAY_API_KEYS', 'has a key under 16 characters or with spaces/control characters');
    }
  }
  return keys.map((k) => new Secret(k));
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
      latencySession: readEnum(env, 'ORT_LATENCY_SESSION', '1', ['0', '1'] as const) === '1',
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
