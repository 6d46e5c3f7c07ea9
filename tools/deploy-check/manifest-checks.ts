// Checks of rendered Kubernetes manifests against what the services really read and do: the
// schemas (kubeconform) say a manifest is well formed, these say it fits this project.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGatewayConfig, loadInferenceConfig, loadPreprocessorConfig } from '@app/config';

export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [key: string]: unknown;
};

export const SERVICES = ['gateway', 'preprocessor', 'inference'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** Each stage reads one topic (libs/stage: the group is KAFKA_GROUP_ID_PREFIX + the stage's name). */
export const STAGE_INPUT: Record<Exclude<ServiceName, 'gateway'>, { topicEnv: string; topicDefault: string }> = {
  preprocessor: { topicEnv: 'TOPIC_RAW', topicDefault: 'raw' },
  inference: { topicEnv: 'TOPIC_TOKENIZED', topicDefault: 'tokenized' },
};

const PORT_ENV: Record<ServiceName, string> = {
  gateway: 'GATEWAY_PORT',
  preprocessor: 'PREPROCESSOR_PORT',
  inference: 'INFERENCE_PORT',
};

const walk = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });

/**
 * The environment variables the services read, from their sources: the names the config loaders
 * and libs pass around as string literals, `env.NAME` reads, and NAME_FILE for every secret
 * (read through readSecret), plus the variables Node itself reads.
 */
export function knownEnvNames(root: string): Set<string> {
  const names = new Set<string>(['NODE_ENV', 'NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS']);
  const sources = walk(join(root, 'libs'))
    .concat(walk(join(root, 'apps')))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts') && !f.includes('/libs/testing/'));
  for (const file of sources) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\benv\.([A-Z][A-Z0-9_]+)/g)) names.add(m[1]);
    for (const m of text.matchAll(/read\w*\(env, '([A-Z][A-Z0-9_]+)'/g)) names.add(m[1]);
    for (const m of text.matchAll(/readSecret\(env, '([A-Z][A-Z0-9_]+)'\)/g)) names.add(`${m[1]}_FILE`);
  }
  return names;
}

interface Container {
  name: string;
  image: string;
  envFrom?: { configMapRef?: { name: string } }[];
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  exec?: { command: string[] };
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
}
interface Deployment extends Manifest {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}

const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Dummy secret contents that pass the loaders' own checks (key lengths, printable API keys). */
const DUMMY_SECRET = 'deploy-check-dummy-secret-0123456789abcdef';

export interface CheckContext {
  root: string;
  knownEnv: Set<string>;
  /** Trigger type → the metadata names KEDA's scaler reads; unchecked when absent. */
  scalerMetadata?: Record<string, string[]>;
}

/** Every problem found, one line each; empty when the manifests fit. */
export function checkManifests(docs: Manifest[], ctx: CheckContext): string[] {
  const problems: string[] = [];
  const fail = (m: Manifest, message: string) => problems.push(`${m.kind}/${m.metadata.name}: ${message}`);
  const configMaps = new Map(
    docs.filter((d) => d.kind === 'ConfigMap').map((d) => [d.metadata.name, (d.data ?? {}) as Record<string, string>]),
  );
  const deployments = docs.filter((d): d is Deployment => d.kind === 'Deployment');
  const scaledObjects = docs.filter((d) => d.kind === 'ScaledObject');
  const envOf = new Map<string, Record<string, string>>();

  for (const d of deployments) {
    const service = d.metadata.labels?.['app.kubernetes.io/name'] as ServiceName;
    if (!SERVICES.includes(service)) {
      fail(d, `label app.kubernetes.io/name=${service} is not one of ${SERVICES.join(', ')}`);
      continue;
    }
    const pod = d.spec.template.spec;
    const container = pod.containers.find((c) => c.name === service) ?? pod.containers[0];
    if (!matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels))
      fail(d, 'selector does not match its pods');

    // The env the process sees: its ConfigMaps, then env entries (secrets as NAME_FILE).
    const env: Record<string, string> = {};
    for (const from of container.envFrom ?? []) {
      const name = from.configMapRef?.name;
      if (!name) continue;
      const data = configMaps.get(name);
      if (!data) fail(d, `envFrom names ConfigMap ${name}, which is not rendered`);
      Object.assign(env, data);
    }
    for (const e of container.env ?? []) env[e.name] = e.value ?? '';
    envOf.set(d.metadata.name, env);
    for (const name of Object.keys(env)) {
      if (!ctx.knownEnv.has(name)) fail(d, `env ${name} is read by no service (libs/config)`);
    }

    // The port the service listens on is the one its probes and Services use.
    const listen = Number(env[PORT_ENV[service]] ?? defaultPort(service));
    const http = container.ports?.find((p) => p.name === 'http');
    if (http?.containerPort !== listen) {
      fail(d, `containerPort "http" is ${http?.containerPort}, but ${PORT_ENV[service]} makes it listen on ${listen}`);
    }
    if (service === 'gateway' && env.METRICS_PORT && env.METRICS_PORT !== '0') {
      const metrics = container.ports?.find((p) => p.name === 'metrics');
      if (metrics?.containerPort !== Number(env.METRICS_PORT)) fail(d, `containerPort "metrics" is not METRICS_PORT`);
    }
    const probePort = (p: Probe | undefined) => {
      const port = p?.httpGet?.port;
      return typeof port === 'string' ? container.ports?.find((x) => x.name === port)?.containerPort : port;
    };
    const live = container.livenessProbe;
    if (live?.httpGet?.path !== '/health/live' || probePort(live) !== listen) {
      fail(d, `livenessProbe must GET /health/live on ${listen}`);
    }
    const ready = container.readinessProbe;
    const readyByExec = ready?.exec?.command.join(' ').includes(`healthcheck.js ${service} /health/ready`);
    if (!readyByExec && (ready?.httpGet?.path !== '/health/ready' || probePort(ready) !== listen)) {
      fail(d, `readinessProbe must GET /health/ready on ${listen}`);
    }
    if (service === 'gateway' && env.GATEWAY_API_KEYS_FILE && !readyByExec) {
      fail(d, 'with API keys /health/ready answers 401 to a probe without one');
    }

    // SIGKILL only after preStop and the whole drain.
    const preStop = container.lifecycle?.preStop;
    const preStopSeconds =
      preStop?.sleep?.seconds ?? Number(preStop?.exec?.command.find((w) => /^\d+$/.test(w)) ?? NaN);
    if (!Number.isFinite(preStopSeconds)) fail(d, 'no preStop sleep: the pod may get traffic after SIGTERM');
    const drainMs =
      service === 'gateway'
        ? 0
        : loadPreprocessorConfig({ STAGE_DRAIN_TIMEOUT_MS: env.STAGE_DRAIN_TIMEOUT_MS }).stage.drainTimeoutMs;
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    if (grace * 1000 <= (preStopSeconds || 0) * 1000 + drainMs) {
      fail(
        d,
        `terminationGracePeriodSeconds ${grace} does not exceed preStop ${preStopSeconds} s + drain ${drainMs} ms`,
      );
    }
    if (
      !container.resources?.requests?.cpu ||
      !container.resources.requests.memory ||
      !container.resources.limits?.memory
    ) {
      fail(d, 'resources: requests.cpu, requests.memory and limits.memory are all needed');
    }
    if (pod.securityContext?.runAsNonRoot !== true) fail(d, 'securityContext.runAsNonRoot is not true');

    // The env passes the service's own validation, as at boot.
    const problem = loadWithSecrets(service, env);
    if (problem) fail(d, `its env fails the ${service}'s config: ${problem}`);
  }

  for (const m of docs) {
    if (m.kind === 'Service' || m.kind === 'PodDisruptionBudget') {
      const spec = m.spec as { selector: Record<string, string> & { matchLabels?: Record<string, string> } };
      const selector = m.kind === 'Service' ? spec.selector : (spec.selector.matchLabels ?? {});
      const target = deployments.find((d) => matches(selector, d.spec.template.metadata.labels));
      if (!target) {
        fail(m, 'selects no Deployment');
        continue;
      }
      if (m.kind === 'Service') {
        const ports = (m.spec as { ports: { targetPort: string | number }[] }).ports;
        const names = target.spec.template.spec.containers[0].ports?.map((p) => p.name) ?? [];
        for (const p of ports)
          if (typeof p.targetPort === 'string' && !names.includes(p.targetPort))
            fail(m, `targetPort ${p.targetPort} is no container port`);
      }
    }
  }

  for (const so of scaledObjects) {
    const spec = so.spec as {
      scaleTargetRef: { name: string };
      minReplicaCount?: number;
      maxReplicaCount?: number;
      triggers: { type: string; metadata: Record<string, string> }[];
    };
    for (const t of spec.triggers) {
      const names = ctx.scalerMetadata?.[t.type];
      for (const key of Object.keys(t.metadata ?? {})) {
        if (names && !names.includes(key)) fail(so, `${t.type} trigger: KEDA's scaler reads no metadata "${key}"`);
      }
    }
    const target = deployments.find((d) => d.metadata.name === spec.scaleTargetRef.name);
    if (!target) {
      fail(so, `scaleTargetRef ${spec.scaleTargetRef.name} is no Deployment`);
      continue;
    }
    if (target.spec.replicas !== undefined)
      fail(so, `${target.metadata.name} sets replicas, which KEDA's HPA would fight`);
    const service = target.metadata.labels?.['app.kubernetes.io/name'] as ServiceName;
    const env = envOf.get(target.metadata.name) ?? {};
    if (service === 'gateway') {
      if (!spec.triggers.some((t) => t.type === 'cpu')) fail(so, 'the gateway scales on CPU');
      if (!target.spec.template.spec.containers[0].resources?.requests?.cpu)
        fail(so, 'a cpu trigger needs a CPU request');
      continue;
    }
    const kafka = spec.triggers.find((t) => t.type === 'kafka');
    if (!kafka) {
      fail(so, 'a stage scales on its consumer-group lag (a kafka trigger)');
      continue;
    }
    const input = STAGE_INPUT[service];
    const group = `${env.KAFKA_GROUP_ID_PREFIX ?? ''}${service}`;
    if (kafka.metadata.consumerGroup !== group)
      fail(so, `consumerGroup ${kafka.metadata.consumerGroup}, the stage's is ${group}`);
    const topic = env[input.topicEnv] ?? input.topicDefault;
    if (kafka.metadata.topic !== topic) fail(so, `topic ${kafka.metadata.topic}, the stage reads ${topic}`);
    if (kafka.metadata.bootstrapServers !== (env.KAFKA_BROKERS ?? 'localhost:9092')) {
      fail(so, "bootstrapServers differ from the stage's KAFKA_BROKERS");
    }
    const partitions = Number(env.TOPIC_PARTITIONS ?? 3);
    if (spec.maxReplicaCount === undefined || spec.maxReplicaCount > partitions) {
      fail(so, `maxReplicaCount ${spec.maxReplicaCount} exceeds the ${partitions} partitions: the rest would idle`);
    }
    if ((spec.minReplicaCount ?? 0) > (spec.maxReplicaCount ?? 0)) fail(so, 'minReplicaCount exceeds maxReplicaCount');
  }

  for (const sm of docs.filter((d) => d.kind === 'ServiceMonitor')) {
    const spec = sm.spec as {
      selector: { matchLabels: Record<string, string> };
      endpoints: { port: string; path?: string }[];
    };
    const svc = docs.find((d) => d.kind === 'Service' && matches(spec.selector.matchLabels, d.metadata.labels));
    if (!svc) {
      fail(sm, 'selects no Service');
      continue;
    }
    const names = (svc.spec as { ports: { name: string }[] }).ports.map((p) => p.name);
    for (const e of spec.endpoints) {
      if (!names.includes(e.port)) fail(sm, `endpoint port ${e.port} is not a port of ${svc.metadata.name}`);
      if ((e.path ?? '/metrics') !== '/metrics') fail(sm, `endpoint path ${e.path}: the services serve /metrics`);
    }
  }
  return problems;
}

const defaultPort = (service: ServiceName) => loadPreprocessorConfig({}).ports[service];

/** Runs the service's config loader on env, with each NAME_FILE pointing at a dummy secret file. */
export function loadWithSecrets(service: ServiceName, env: Record<string, string>): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'deploy-check-'));
  try {
    const resolved: Record<string, string> = {};
    for (const [name, value] of Object.entries(env)) {
      // TLS files are PEM the operator mounts; the loaders read them, so they are checked by name only.
      if (/^KAFKA_SSL_(CA|CERT|KEY)_FILE$/.test(name)) continue;
      if (name.endsWith('_FILE')) {
        const file = join(dir, name);
        writeFileSync(file, DUMMY_SECRET);
        resolved[name] = file;
      } else {
        resolved[name] = value;
      }
    }
    const load = { gateway: loadGatewayConfig, preprocessor: loadPreprocessorConfig, inference: loadInferenceConfig }[
      service
    ];
    load(resolved);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
