import { AvroCodec, SchemaRegistryAdapter } from '@app/avro';
import { RecordSigner } from '@app/common';
import { DEFAULT_MODEL_DIR, loadCommonConfig } from '@app/config';
import { createKafka } from '@app/kafka';
import { loadModelInfo } from '@app/model';
import {
  AppName,
  AuthProxy,
  predictionRecord,
  RunningService,
  SecureInfra,
  startService,
  stopService,
  TopicReader,
  uniqueSuffix,
  waitFor,
} from '@app/testing';
import { Kafka, logLevel, Producer } from 'kafkajs';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The services serve the default model; a genuine answer names it and one of its labels.
const MODEL = loadModelInfo(DEFAULT_MODEL_DIR);

/**
 * The pipeline in secure mode, as an operator runs it: its own SASL_SSL broker with SCRAM users and
 * least-privilege ACLs (infra/infra.sh up --secure), each service its own principal with the password
 * in a file, the registry behind basic auth, gateway API keys, and signed predictions.
 */
interface Answer {
  id?: string;
  model?: string;
  category?: string;
  predictions?: { model: string }[];
  ids?: string[];
}

describe('the pipeline over SASL_SSL with ACLs, registry credentials, API keys and signed predictions', () => {
  const secrets = mkdtempSync(join(tmpdir(), 'secure-e2e-'));
  const API_KEY = `e2e-key-${uniqueSuffix()}-0123456789`;
  const SIGNING_KEY = `signing-${uniqueSuffix()}-${'k'.repeat(32)}`;
  const REGISTRY_PASSWORD = `reg-${uniqueSuffix()}-pw`;
  const services: Partial<Record<AppName, RunningService>> = {};
  let infra: SecureInfra;
  let proxy: AuthProxy;
  let admin: Kafka;
  let forger: Producer;
  let raw: TopicReader;

  const file = (name: string, text: string) => {
    const path = join(secrets, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };

  const envFor = (app: AppName): Record<string, string> => ({
    ...infra.envFor(app),
    SCHEMA_REGISTRY_URL: proxy.url,
    SCHEMA_REGISTRY_USERNAME: 'services',
    SCHEMA_REGISTRY_PASSWORD_FILE: file('registry.password', REGISTRY_PASSWORD),
    PREDICTION_SIGNING_KEY_FILE: file('signing.key', SIGNING_KEY),
    ...(app === 'gateway' ? { GATEWAY_API_KEYS_FILE: file('api-keys', `# e2e\n${API_KEY}\n`) } : {}),
    PREDICT_TIMEOUT_MS: '90000',
    KAFKA_GROUP_ID_PREFIX: '',
  });

  const auth = { authorization: `Bearer ${API_KEY}` };
  const post = async (path: string, body: unknown, headers: Record<string, string> = auth) => {
    const res = await fetch(`${services.gateway!.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Answer };
  };

  async function ready(service: RunningService): Promise<void> {
    await waitFor(
      async () => {
        if (service.process.exitCode !== null) throw new Error(`${service.app} exited (see .e2e/logs)`);
        const res = await fetch(`${service.url}/health/ready`, { headers: auth }).catch(() => undefined);
        return res?.status === 200;
      },
      { timeoutMs: 120_000, intervalMs: 500, description: `${service.app} ready` },
    );
  }

  const logOf = (service: RunningService) =>
    readFileSync(join(__dirname, '../../.e2e/logs', `${service.app}-${service.port}.log`), 'utf8');

  beforeAll(async () => {
    infra = await SecureInfra.allocate('e2e');
    await infra.up();
    proxy = await AuthProxy.basic(infra.registryUrl, 'services', REGISTRY_PASSWORD).start();
    const adminConfig = loadCommonConfig(infra.envFor('admin'));
    admin = createKafka(adminConfig.kafka.brokers, 'e2e-admin', logLevel.NOTHING, adminConfig.kafka.security);
    forger = admin.producer();
    await forger.connect();
    raw = await new TopicReader(admin, 'raw').start();
    // Inference starts later, in the forgery test, so that a pending request is there to forge for.
    services.preprocessor = await startService('preprocessor', envFor('preprocessor'));
    services.gateway = await startService('gateway', envFor('gateway'));
    await Promise.all([ready(services.preprocessor), ready(services.gateway)]);
  }, 400_000);

  afterAll(async () => {
    await raw?.disconnect();
    await forger?.disconnect();
    await Promise.all(Object.values(services).map((s) => stopService(s)));
    await proxy?.stop();
    await infra?.down();
  }, 120_000);

  it('asks for an API key: 401 without, 403 with a wrong one; /health/live stays open', async () => {
    expect((await post('/predict', { text: 'x' }, {})).status).toBe(401);
    expect((await post('/predict', { text: 'x' }, { authorization: 'Bearer wrong-key-0123456789abc' })).status).toBe(
      403,
    );
    expect((await fetch(`${services.gateway!.url}/health/live`)).status).toBe(200);
  });

  it('refuses a forged prediction (logged), then answers with the genuine one from inference', async () => {
    const codec = new AvroCodec(
      new SchemaRegistryAdapter(proxy.url, 5_000, loadCommonConfig(envFor('gateway')).registry.auth),
      { raw: 'raw', tokenized: 'tokenized', prediction: 'predictions' },
    );
    await codec.registerAll();
    const text = `WIN a FREE cruise, click now!!! ${uniqueSuffix()}`;
    const answer = post('/predict', { text });
    // A client that may write replies (here the admin; with ACLs only inference may) reads the
    // pending id and where its reply goes off raw, and forges the reply.
    const pendingRaw = await waitFor(
      async () => {
        for (const m of raw.messages) {
          if (m.value && (await codec.decode('raw', m.value)).text === text) return m;
        }
        return undefined;
      },
      { timeoutMs: 30_000, description: 'the raw record' },
    );
    const id = pendingRaw.key!;
    const forged = predictionRecord({ id, label: 'FORGED-BY-ANY-KAFKA-CLIENT', model: 'not-the-model' });
    const value = codec.encode('prediction', forged);
    const partition = Number(String(pendingRaw.headers['reply-partition']));
    await forger.send({
      topic: String(pendingRaw.headers['reply-topic']),
      messages: [
        { key: id, value, partition },
        // A signature under another key does not help either.
        { key: id, value, partition, headers: { signature: new RecordSigner('x'.repeat(40)).sign(id, value) } },
      ],
    });
    await waitFor(() => /refused a prediction for .*signature/.test(logOf(services.gateway!)), {
      timeoutMs: 30_000,
      description: 'the gateway logging the refused forgery',
    });
    services.inference = await startService('inference', envFor('inference'));
    await ready(services.inference);
    const res = await answer;
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(id);
    expect(res.body.model).toBe(MODEL.name);
    expect(MODEL.labels).toContain(res.body.category);
    expect(logOf(services.gateway!)).not.toContain(API_KEY);
  });

  it('answers a batch of texts end to end over SASL_SSL', async () => {
    const texts = Array.from({ length: 20 }, (_, i) => `secure e2e text number ${i}: meeting at noon?`);
    const res = await post('/v1/predict', { texts });
    expect(res.status).toBe(200);
    expect(res.body.predictions).toHaveLength(20);
    expect(res.body.predictions!.every((p) => p.model === MODEL.name)).toBe(true);
  });

  it('accepts 60 texts of 64 KiB in one request (split across produce requests)', async () => {
    const texts = Array.from({ length: 60 }, (_, i) => `${i} `.padEnd(65_536, 'lorem ipsum '));
    const res = await post('/v1/texts', { texts });
    expect(res.status).toBe(202);
    expect(res.body.ids).toHaveLength(60);
  });

  it('stops a service whose password is wrong, with one clear line and no retry storm', async () => {
    const wrong = await startService('gateway', {
      ...envFor('gateway'),
      KAFKA_SASL_PASSWORD_FILE: file('wrong.password', 'not-the-password-0123'),
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      wrong.exited,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the gateway did not stop')), 60_000))),
    ]).finally(() => clearTimeout(timer));
    const log = logOf(wrong);
    const refusals = log.match(/refused KAFKA_SASL_USERNAME=gateway/g) ?? [];
    expect(refusals).toHaveLength(1);
    expect(log).toMatch(/check KAFKA_SASL_\* \/ KAFKA_SSL_\* and the ACLs/);
    expect(log).not.toMatch(/connect to Kafka at .* failed/);
    expect(log).not.toContain('not-the-password-0123');
  });

  it('never logs a secret in any service', () => {
    for (const service of Object.values(services)) {
      const log = logOf(service);
      for (const secret of [infra.password('gateway'), infra.password('preprocessor'), infra.password('inference')]) {
        expect(log).not.toContain(secret);
      }
      expect(log).not.toContain(REGISTRY_PASSWORD);
      expect(log).not.toContain(SIGNING_KEY);
    }
  });
});
