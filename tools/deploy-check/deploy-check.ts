// `npm run deploy:check`: validates deploy/ without Docker or a cluster.
//   1. lints deploy/Dockerfile (tools/deploy-check/dockerfile-lint.ts; hadolint is not installable here);
//   2. checks deploy/docker-compose.yml against the Dockerfile's targets and the services' config;
//   3. lints and renders the Helm chart with several value sets (helm);
//   4. validates every rendered manifest against the Kubernetes schemas and the KEDA and
//      Prometheus Operator CRDs (kubeconform, offline);
//   5. checks the rendered manifests against what the services read (manifest-checks.ts);
//   6. checks the images' Node against the lines CI tests, .ci/node-lines (node-lines.ts).
// The tools come from tools/deploy-check/install-tools.sh (DEPLOY_TOOLS_DIR). A missing tool is
// reported as "not run" and fails the check only with --require-tools (CI).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { loadGatewayConfig, projectRoot } from '@app/config';
import { dockerignore, lintDockerfile } from './dockerfile-lint';
import { checkProjectNodeLines } from './node-lines';
import { checkManifests, knownEnvNames, loadWithSecrets, Manifest, SERVICES, ServiceName } from './manifest-checks';

export const CHART_DIR = 'deploy/helm/kafka-text-classifier';
export const K8S_VERSIONS = ['1.25.0', '1.37.0'];

/** Value sets the chart is rendered with: the defaults, and each optional part turned on or off. */
export const VALUE_SETS: Record<string, string[]> = {
  defaults: [],
  'no-keda': ['--set', 'keda.enabled=false'],
  'secured-cluster': [
    '--set-string',
    'env.KAFKA_SASL_MECHANISM=SCRAM-SHA-512,env.KAFKA_SSL_CA_FILE=/run/secrets/kafka-ca/ca.pem,env.KAFKA_CREATE_TOPICS=0',
    '--set',
    'serviceMonitor.enabled=true,keda.kafkaAuthenticationRef=kafka-sasl,kafka.groupIdPrefix=prod-,kafka.topicPartitions=12',
    '--set',
    'kafka.brokers=b-1.example:9096\\,b-2.example:9096',
    '--set',
    'schemaRegistry.url=https://registry.example',
    '--set-json',
    'secretFiles=[{"env":"SCHEMA_REGISTRY_USERNAME","secretName":"registry","key":"username"},{"env":"SCHEMA_REGISTRY_PASSWORD","secretName":"registry","key":"password"}]',
    '--set-json',
    'gateway.secretFiles=[{"env":"KAFKA_SASL_USERNAME","secretName":"kafka-gateway","key":"username"},{"env":"KAFKA_SASL_PASSWORD","secretName":"kafka-gateway","key":"password"},{"env":"PREDICTION_SIGNING_KEY","secretName":"signing","key":"key"},{"env":"GATEWAY_API_KEYS","secretName":"gateway-api-keys","key":"keys"}]',
    '--set-json',
    'preprocessor.secretFiles=[{"env":"KAFKA_SASL_USERNAME","secretName":"kafka-preprocessor","key":"username"},{"env":"KAFKA_SASL_PASSWORD","secretName":"kafka-preprocessor","key":"password"}]',
    '--set-json',
    'inference.secretFiles=[{"env":"KAFKA_SASL_USERNAME","secretName":"kafka-inference","key":"username"},{"env":"KAFKA_SASL_PASSWORD","secretName":"kafka-inference","key":"password"},{"env":"PREDICTION_SIGNING_KEY","secretName":"signing","key":"key"}]',
    '--set-json',
    'model={"mountPath":"/models/custom","volume":{"persistentVolumeClaim":{"claimName":"my-model","readOnly":true}}}',
    '--set-json',
    'createSecrets={"signing":{"key":"0123456789abcdef0123456789abcdef"}}',
  ],
  'more-replicas-than-partitions': ['--set', 'kafka.topicPartitions=2,inference.autoscaling.maxReplicas=8'],
};

export function toolsDir(): string {
  return (
    process.env.DEPLOY_TOOLS_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kafka-text-classifier', 'deploy-tools')
  );
}

/** The tool's path in DEPLOY_TOOLS_DIR, else on PATH; undefined if neither has it. */
export function findTool(name: string): string | undefined {
  const local = join(toolsDir(), 'bin', name);
  if (existsSync(local)) return local;
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/** The metadata names each KEDA scaler reads (install-tools.sh, from KEDA's sources); undefined if absent. */
export function scalerMetadata(): Record<string, string[]> | undefined {
  const file = join(toolsDir(), 'schemas', 'crds', 'keda.sh', 'scaler-metadata.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string[]>) : undefined;
}

export function schemaLocations(): { k8s: string[]; crds: string; missing: string[] } {
  const dir = join(toolsDir(), 'schemas');
  const k8s = K8S_VERSIONS.map((v) => join(dir, 'k8s', `v${v}-local-strict`));
  const crds = join(dir, 'crds');
  const missing = [
    ...k8s.filter((d) => !existsSync(join(d, 'deployment-apps-v1.json'))),
    ...[
      'keda.sh/scaledobject_v1alpha1.json',
      'keda.sh/scaler-metadata.json',
      'monitoring.coreos.com/servicemonitor_v1.json',
    ]
      .map((f) => join(crds, f))
      .filter((f) => !existsSync(f)),
  ];
  return { k8s, crds, missing };
}

export function renderChart(helm: string, root: string, args: string[]): { yaml: string; docs: Manifest[] } {
  const yaml = execFileSync(
    helm,
    [
      'template',
      'ktc',
      join(root, CHART_DIR),
      '--namespace',
      'ktc',
      '--kube-version',
      K8S_VERSIONS[K8S_VERSIONS.length - 1],
      ...args,
    ],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return { yaml, docs: parseManifests(yaml) };
}

/** Every document of a multi-document YAML; a YAML error (a duplicate key, say) throws. */
export function parseManifests(yaml: string): Manifest[] {
  const docs = parseAllDocuments(yaml);
  for (const d of docs) if (d.errors.length > 0) throw new Error(`rendered YAML: ${d.errors[0].message}`);
  return docs
    .map((d) => d.toJSON() as Manifest | null)
    .filter((d): d is Manifest => d !== null && typeof d === 'object' && 'kind' in d);
}

/** kubeconform over one multi-document YAML, strict, against each Kubernetes version. */
export function kubeconform(bin: string, yaml: string, k8sVersion: string): { ok: boolean; output: string } {
  const { k8s, crds } = schemaLocations();
  const k8sDir = k8s[K8S_VERSIONS.indexOf(k8sVersion)];
  const result = spawnSync(
    bin,
    [
      '-strict',
      '-summary',
      '-output',
      'text',
      '-schema-location',
      `${k8sDir}/{{ .ResourceKind }}{{ .KindSuffix }}.json`,
      '-schema-location',
      `${crds}/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json`,
      '-',
    ],
    { input: yaml, encoding: 'utf8' },
  );
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}`.trim() };
}

export function lintProjectDockerfile(root: string): string[] {
  const defaults = loadGatewayConfig({}).ports;
  return lintDockerfile(readFileSync(join(root, 'deploy/Dockerfile'), 'utf8'), {
    contextDir: root,
    ignored: dockerignore(readFileSync(join(root, '.dockerignore'), 'utf8')),
    targets: { gateway: defaults.gateway, preprocessor: defaults.preprocessor, inference: defaults.inference },
  }).map((f) => `deploy/Dockerfile:${f.line}: ${f.rule} ${f.message}`);
}

interface ComposeService {
  build?: { context: string; dockerfile: string; target: string };
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown>;
  stop_grace_period?: string;
}

/** deploy/docker-compose.yml on top of docker-compose.kafka.yml, as Compose merges them. */
export function checkCompose(root: string): string[] {
  const problems: string[] = [];
  const kafka = parse(readFileSync(join(root, 'docker-compose.kafka.yml'), 'utf8')) as {
    services: Record<string, { environment: Record<string, string> }>;
  };
  const apps = parse(readFileSync(join(root, 'deploy/docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, ComposeService>;
  };
  const dockerfile = readFileSync(join(root, 'deploy/Dockerfile'), 'utf8');
  const known = knownEnvNames(root);
  const internalListener = /PLAINTEXT:\/\/([^,]+)/.exec(
    kafka.services.kafka.environment.KAFKA_ADVERTISED_LISTENERS,
  )?.[1];
  for (const service of SERVICES) {
    const s = apps.services[service];
    if (!s) {
      problems.push(`docker-compose: no service ${service}`);
      continue;
    }
    const at = `deploy/docker-compose.yml ${service}`;
    // Compose resolves paths against the first file's folder, the repository root.
    if (!s.build || !existsSync(join(root, s.build.context, s.build.dockerfile)))
      problems.push(`${at}: build.dockerfile not found`);
    else if (!new RegExp(`^FROM .* AS ${s.build.target}$`, 'm').test(dockerfile))
      problems.push(`${at}: no target ${s.build.target}`);
    for (const dep of Object.keys(s.depends_on ?? {})) {
      if (!kafka.services[dep]) problems.push(`${at}: depends on ${dep}, not in docker-compose.kafka.yml`);
    }
    const env = s.environment ?? {};
    for (const name of Object.keys(env))
      if (!known.has(name)) problems.push(`${at}: env ${name} is read by no service`);
    if (env.KAFKA_BROKERS !== internalListener)
      problems.push(`${at}: KAFKA_BROKERS is not the compose network's listener ${internalListener}`);
    const problem = loadWithSecrets(service, env);
    if (problem) problems.push(`${at}: its env fails the config: ${problem}`);
    if (service !== 'gateway') {
      const grace = Number(/^(\d+)s$/.exec(s.stop_grace_period ?? '')?.[1] ?? 10);
      const drainMs = Number(env.STAGE_DRAIN_TIMEOUT_MS ?? 15_000);
      if (grace * 1000 <= drainMs)
        problems.push(`${at}: stop_grace_period ${grace}s does not exceed the ${drainMs} ms drain`);
    }
  }
  return problems;
}

/** The chart's values.yaml: every env name (and secretFiles env + _FILE) is one the services read. */
export function checkValuesEnvNames(root: string): string[] {
  type Section = { env?: Record<string, unknown>; secretFiles?: { env: string }[] };
  const values = parse(readFileSync(join(root, CHART_DIR, 'values.yaml'), 'utf8')) as Section & Record<string, Section>;
  const known = knownEnvNames(root);
  const problems: string[] = [];
  const sections: [string, Section][] = [['', values], ...SERVICES.map((s): [string, Section] => [`${s}.`, values[s]])];
  for (const [prefix, section] of sections) {
    for (const name of Object.keys(section.env ?? {})) {
      if (!known.has(name)) problems.push(`values.yaml ${prefix}env.${name}: read by no service`);
    }
    for (const { env } of section.secretFiles ?? []) {
      if (!known.has(`${env}_FILE`))
        problems.push(`values.yaml ${prefix}secretFiles ${env}: the services read no ${env}_FILE`);
    }
  }
  return problems;
}

/**
 * The image keeps production dependencies only (`npm prune --omit=dev`): every package the apps and
 * libs import at run time must be in package.json's dependencies. Type-only imports vanish in the
 * build; `typescript` is required only when the ONNX worker runs from sources (libs/model).
 */
export function missingProductionDeps(root: string): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const deps = new Set(Object.keys(pkg.dependencies));
  const problems: string[] = [];
  for (const file of sourceFiles(root)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^(?!import type)[^\n]*?(?:from |require\()'([^'.][^']*)'/gm)) {
      const spec = m[1];
      if (spec.startsWith('node:') || spec.startsWith('@app/')) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      if (deps.has(name) || (name === 'typescript' && file.endsWith('ort-worker-session.ts'))) continue;
      problems.push(`${file.slice(root.length + 1)}: imports ${name}, which is not a production dependency`);
    }
  }
  return problems;
}

const sourceFiles = (root: string): string[] =>
  ['apps', 'libs'].flatMap((dir) =>
    readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
      .map((f) => join(root, dir, f))
      .filter(
        (f) => f.endsWith('.ts') && !f.endsWith('.spec.ts') && !f.includes('/libs/testing/') && !f.includes('/test/'),
      ),
  );

export interface Report {
  problems: string[];
  ran: string[];
  notRun: string[];
}

export function runDeployCheck(root = projectRoot()): Report {
  const report: Report = { problems: [], ran: [], notRun: [] };
  report.problems.push(...lintProjectDockerfile(root));
  report.ran.push('Dockerfile rules (tools/deploy-check/dockerfile-lint.ts)');
  report.problems.push(...missingProductionDeps(root));
  report.ran.push('the apps import production dependencies only (the image prunes dev ones)');
  report.problems.push(...checkCompose(root));
  report.ran.push('docker-compose stack against the Dockerfile and the config loaders');
  report.problems.push(...checkValuesEnvNames(root));
  report.ran.push('values.yaml env names against libs/config');
  report.problems.push(...checkProjectNodeLines(root));
  report.ran.push(
    "the images' Node line against .ci/node-lines (maintained, fully tested), engines, the chart's version",
  );

  const helm = findTool('helm');
  const kc = findTool('kubeconform');
  const schemas = schemaLocations();
  if (!helm) {
    report.notRun.push(
      'helm lint / helm template and every check of rendered manifests (no helm: tools/deploy-check/install-tools.sh)',
    );
    return report;
  }
  const lint = spawnSync(helm, ['lint', '--strict', join(root, CHART_DIR)], { encoding: 'utf8' });
  if (lint.status !== 0) report.problems.push(`helm lint --strict:\n${lint.stdout}${lint.stderr}`);
  report.ran.push('helm lint --strict');

  const knownEnv = knownEnvNames(root);
  const tmp = mkdtempSync(join(tmpdir(), 'deploy-check-'));
  try {
    for (const [name, args] of Object.entries(VALUE_SETS)) {
      let rendered: { yaml: string; docs: Manifest[] };
      try {
        rendered = renderChart(helm, root, args);
      } catch (err) {
        report.problems.push(`helm template (${name}): ${(err as { stderr?: string }).stderr ?? String(err)}`);
        continue;
      }
      writeFileSync(join(tmp, `${name}.yaml`), rendered.yaml);
      for (const p of checkManifests(rendered.docs, { root, knownEnv, scalerMetadata: scalerMetadata() }))
        report.problems.push(`[${name}] ${p}`);
      report.ran.push(`helm template + manifest checks: ${name} (${rendered.docs.length} manifests)`);
      if (kc && schemas.missing.length === 0) {
        for (const version of K8S_VERSIONS) {
          const result = kubeconform(kc, rendered.yaml, version);
          if (!result.ok) report.problems.push(`kubeconform (${name}, Kubernetes ${version}):\n${result.output}`);
          else
            report.ran.push(
              `kubeconform -strict, Kubernetes ${version} + CRDs: ${name}: ${result.output.split('\n').pop()}`,
            );
        }
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (!kc) report.notRun.push('kubeconform (not installed: tools/deploy-check/install-tools.sh)');
  else if (schemas.missing.length > 0)
    report.notRun.push(`kubeconform (schemas missing: ${schemas.missing.join(', ')})`);
  return report;
}

if (require.main === module) {
  const requireTools = process.argv.includes('--require-tools');
  const report = runDeployCheck();
  for (const line of report.ran) console.log(`ran: ${line}`);
  for (const line of report.notRun) console.log(`NOT RUN: ${line}`);
  for (const line of report.problems) console.log(`PROBLEM: ${line}`);
  const failed = report.problems.length > 0 || (requireTools && report.notRun.length > 0);
  console.log(
    `deploy:check: ${failed ? 'FAILED' : 'ok'}: ${report.problems.length} problems, ${report.ran.length} checks run, ${report.notRun.length} not run`,
  );
  process.exit(failed ? 1 : 0);
}

export type { ServiceName };
