import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from './config.errors';
import {
  loadCommonConfig,
  loadConfig,
  loadGatewayConfig,
  loadInferenceConfig,
  loadPreprocessorConfig,
} from './app-config';

describe('loadConfig', () => {
  it('uses the documented defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config.kafka.brokers).toEqual(['localhost:9092']);
    expect(config.registry.url).toBe('http://localhost:8081/apis/ccompat/v7');
    expect(config.topics).toMatchObject({ raw: 'raw', tokenized: 'tokenized', predictions: 'predictions' });
    expect(config.ports).toEqual({ gateway: 3000, preprocessor: 3001, inference: 3002, host: '0.0.0.0' });
    expect(config.inference.device).toBe('auto');
    expect(config.kafka).toMatchObject({ fetchMinBytes: 1, fetchMaxWaitMs: 500 });
    expect(config.model.dir).toMatch(/models\/bge-small-zh-news$/);
  });

  it('reads overrides', () => {
    const config = loadConfig({
      KAFKA_BROKERS: 'a:1, b:2',
      TOPIC_RAW: 'in.raw',
      BATCH_MAX_SIZE: '64',
      INFERENCE_DEVICE: 'cuda',
      ORT_SESSIONS: '3',
      ORT_ALLOW_SPINNING: '0',
      SCHEMA_REGISTRY_URL: 'https://reg.example:8081/apis/ccompat/v7/',
    });
    expect(config.kafka.brokers).toEqual(['a:1', 'b:2']);
    expect(config.topics.raw).toBe('in.raw');
    expect(config.batch.maxSize).toBe(64);
    expect(config.inference).toMatchObject({ device: 'cuda', sessions: 3, allowSpinning: false });
    expect(config.registry.url).toBe('https://reg.example:8081/apis/ccompat/v7');
  });

  it('reads the partition assignor (KAFKA_PARTITION_ASSIGNOR), sticky unless set', () => {
    expect(loadCommonConfig({}).kafka.partitionAssignor).toBe('sticky');
    expect(loadCommonConfig({ KAFKA_PARTITION_ASSIGNOR: 'sticky' }).kafka.partitionAssignor).toBe('sticky');
    expect(loadCommonConfig({ KAFKA_PARTITION_ASSIGNOR: 'roundrobin' }).kafka.partitionAssignor).toBe('roundrobin');
  });

  it('leaves the replication factor to the cluster unless TOPIC_REPLICATION_FACTOR is set', () => {
    expect(loadCommonConfig({}).topics.replicationFactor).toBeUndefined();
    expect(loadCommonConfig({ TOPIC_REPLICATION_FACTOR: '3' }).topics.replicationFactor).toBe(3);
    expect(() => loadCommonConfig({ TOPIC_REPLICATION_FACTOR: '0' })).toThrow(/TOPIC_REPLICATION_FACTOR/);
  });

  it.each([
    ['BATCH_MAX_SIZE', 'ten', /BATCH_MAX_SIZE must be an integer/],
    ['BATCH_MAX_SIZE', '0', /BATCH_MAX_SIZE must be between 1/],
    ['GATEWAY_PORT', '70000', /GATEWAY_PORT must be between/],
    ['INFERENCE_DEVICE', 'tpu', /INFERENCE_DEVICE must be one of auto, cpu, cuda, webgpu/],
    ['KAFKA_BROKERS', 'localhost', /KAFKA_BROKERS has "localhost", expected host:port/],
    ['SCHEMA_REGISTRY_URL', 'localhost:8081', /SCHEMA_REGISTRY_URL must be an http\(s\) URL/],
    ['TOPIC_RAW', 'bad topic', /TOPIC_RAW must be a legal Kafka topic name/],
    ['PREDICT_TIMEOUT_MS', '-5', /PREDICT_TIMEOUT_MS must be between/],
    ['ORT_SESSIONS', '100', /ORT_SESSIONS must be between/],
    ['BATCH_MIN_TOKEN_EFFICIENCY', '0.8', /BATCH_MIN_TOKEN_EFFICIENCY must be an integer/],
    ['ORT_ALLOW_SPINNING', 'yes', /ORT_ALLOW_SPINNING must be one of 0, 1/],
    ['KAFKA_PARTITION_ASSIGNOR', 'range', /KAFKA_PARTITION_ASSIGNOR must be one of sticky, roundrobin, got "range"/],
  ])('rejects %s=%s and names the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
    try {
      loadConfig({ [name]: value });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe(name);
    }
  });

  it('rejects a token budget smaller than the batch size', () => {
    expect(() => loadConfig({ BATCH_MAX_SIZE: '64', BATCH_MAX_TOKENS: '10' })).toThrow(/BATCH_MAX_TOKENS/);
  });

  it('splits the settings per app: the gateway does not read batch settings, the stages do', () => {
    expect(() => loadGatewayConfig({ BATCH_MAX_SIZE: 'ten' })).not.toThrow();
    expect(() => loadInferenceConfig({ BATCH_MAX_SIZE: 'ten' })).toThrow(/BATCH_MAX_SIZE/);
    expect(() => loadPreprocessorConfig({ BATCH_MAX_SIZE: 'ten' })).not.toThrow();
    expect(() => loadGatewayConfig({ PREDICT_TIMEOUT_MS: '0' })).toThrow(/PREDICT_TIMEOUT_MS/);
    expect(loadGatewayConfig({})).not.toHaveProperty('batch');
  });

  it('reads the runtime tunables, with defaults per stage', () => {
    expect(loadPreprocessorConfig({}).stage).toEqual({
      maxInFlight: 4096,
      drainTimeoutMs: 15_000,
      revokeTimeoutMs: 10_000,
      lagIntervalMs: 5_000,
      delivery: 'at-least-once',
      commitIntervalMs: 100,
      stateDir: join(tmpdir(), 'kafka-text-classifier-state'),
      instanceId: hostname(),
    });
    expect(loadInferenceConfig({ STAGE_STATE_DIR: 'var/state', STAGE_INSTANCE_ID: 'pod-1' }).stage).toMatchObject({
      stateDir: resolve('var/state'),
      instanceId: 'pod-1',
    });
    expect(loadInferenceConfig({ DELIVERY: 'exactly-once' }).stage).toMatchObject({
      delivery: 'exactly-once',
      commitIntervalMs: 100,
    });
    expect(loadInferenceConfig({ DELIVERY: 'exactly-once', COMMIT_INTERVAL_MS: '0' }).stage.commitIntervalMs).toBe(0);
    expect(loadInferenceConfig({ COMMIT_INTERVAL_MS: '250' }).stage.commitIntervalMs).toBe(250);
    expect(loadInferenceConfig({}).stage.maxInFlight).toBe(2048);
    expect(loadInferenceConfig({ BATCH_QUEUE_HIGH_WATER: '512' }).stage.maxInFlight).toBe(512);
    expect(loadInferenceConfig({ BATCH_QUEUE_HIGH_WATER: '512', STAGE_MAX_IN_FLIGHT: '64' }).stage.maxInFlight).toBe(
      64,
    );
    expect(loadCommonConfig({}).kafka).toMatchObject({
      sessionTimeoutMs: 6_000,
      heartbeatIntervalMs: 1_000,
      healthWindowMs: 3_000,
      restartMaxBackoffMs: 2_000,
    });
    expect(loadGatewayConfig({ PRODUCE_TIMEOUT_MS: '750' }).gateway.produceTimeoutMs).toBe(750);
  });

  it('reads the replies topic and the partition a gateway owns, which must be one of its partitions', () => {
    const env = { REPLY_TOPIC: 'my-replies', REPLY_PARTITIONS: '4' };
    expect(loadGatewayConfig({ ...env, GATEWAY_REPLY_PARTITION: '3' })).toMatchObject({
      topics: { replies: 'my-replies', replyPartitions: 4 },
      gateway: { replyPartition: 3 },
    });
    expect(() => loadGatewayConfig({ ...env, GATEWAY_REPLY_PARTITION: '4' })).toThrow(/GATEWAY_REPLY_PARTITION/);
    // Unset: one of the topic's partitions at random.
    for (let i = 0; i < 20; i++) expect(loadGatewayConfig(env).gateway.replyPartition).toBeLessThan(4);
    expect(loadCommonConfig({}).topics).toMatchObject({ replies: 'replies', replyPartitions: 16 });
  });

  it('rejects timing that cannot work, naming the variable', () => {
    expect(() => loadCommonConfig({ KAFKA_SESSION_TIMEOUT_MS: '6000', KAFKA_HEARTBEAT_INTERVAL_MS: '3000' })).toThrow(
      /KAFKA_HEARTBEAT_INTERVAL_MS/,
    );
    expect(() => loadPreprocessorConfig({ STAGE_REVOKE_TIMEOUT_MS: '40000' })).toThrow(/STAGE_REVOKE_TIMEOUT_MS/);
    expect(() => loadPreprocessorConfig({ DELIVERY: 'exactly_once' })).toThrow(/DELIVERY.*exactly-once/);
    expect(() => loadPreprocessorConfig({ STAGE_INSTANCE_ID: '../etc' })).toThrow(/STAGE_INSTANCE_ID/);
  });
});
