import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '@app/config';
import {
  checkCompose,
  checkValuesEnvNames,
  findTool,
  K8S_VERSIONS,
  kubeconform,
  lintProjectDockerfile,
  missingProductionDeps,
  renderChart,
  runDeployCheck,
  scalerMetadata,
  schemaLocations,
  VALUE_SETS,
} from '../../tools/deploy-check/deploy-check';
import { dockerignore, lintDockerfile } from '../../tools/deploy-check/dockerfile-lint';
import { checkManifests, knownEnvNames, Manifest } from '../../tools/deploy-check/manifest-checks';

// deploy/ cannot be run here (no Docker engine, no cluster): these check the files. The parts that
// need helm and kubeconform run when tools/deploy-check/install-tools.sh has installed them, which
// .ci/run does; in CI a missing tool fails the test instead of passing quietly.
const root = projectRoot();
const helm = findTool('helm');
const kc = findTool('kubeconform');
const schemasReady = schemaLocations().missing.length === 0;

describe('deploy/Dockerfile', () => {
  it('passes the Dockerfile rules: pinned bases, non-root targets, exec-form CMD, sources in the context', () => {
    expect(lintProjectDockerfile(root)).toEqual([]);
  });

  it('bakes the default model into the stages and leaves it overridable through MODEL_DIR', () => {
    const text = readFileSync(join(root, 'deploy/Dockerfile'), 'utf8');
    for (const stage of ['preprocessor', 'inference']) {
      const body = text.split(/^FROM /m).find((s) => s.includes(` AS ${stage}`))!;
      expect(body).toContain('COPY --chown=root:root models/bge-small-zh-news ./models/bge-small-zh-news');
      expect(body).toMatch(/MODEL_DIR=\/app\/models\/bge-small-zh-news/);
    }
    expect(text).toMatch(/npm ci/);
    expect(text).toMatch(/npm run build/);
    expect(text).toMatch(/npm prune --omit=dev/);
    expect(text).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });

  it('the rules catch what they claim to', () => {
    const bad = [
      'FROM node AS build',
      'FROM node:latest AS gateway',
      'ADD package.json ./',
      'COPY --from=nowhere /x /x',
      'COPY no-such-file ./',
      'COPY node_modules ./node_modules',
      'RUN npm install && sudo true',
      'EXPOSE 3000',
      'CMD node main.js',
    ].join('\n');
    const rules = lintDockerfile(bad, {
      contextDir: root,
      ignored: dockerignore('node_modules\n'),
      targets: { gateway: 3000, inference: 3002 },
    }).map((f) => f.rule);
    expect(rules.sort()).toEqual(
      [
        'DL3002', // gateway runs as root
        'DL3004', // sudo
        'DL3006', // node without a tag
        'DL3007', // latest
        'DL3016', // npm install
        'DL3020', // ADD
        'DL3022', // --from=nowhere
        'DL3025', // shell-form CMD
        'KTC001', // no-such-file
        'KTC002', // excluded by .dockerignore
        'KTC003', // no inference target
        'KTC005', // no HEALTHCHECK
      ].sort(),
    );
  });

  it('the apps need no dev dependency at run time (the image prunes them)', () => {
    expect(missingProductionDeps(root)).toEqual([]);
  });

  it('.dockerignore keeps local state and secrets out, and sources, schemas and models in', () => {
    const ignored = dockerignore(readFileSync(join(root, '.dockerignore'), 'utf8'));
    for (const path of [
      'node_modules',
      '.infra',
      '.infra-secure/secure/x.env',
      'dist',
      'libs/config/src/app-config.spec.ts',
    ]) {
      expect([path, ignored(path)]).toEqual([path, true]);
    }
    for (const path of ['apps/gateway/src/main.ts', 'schemas/raw.avsc', 'models/bge-small-zh-news/model.onnx']) {
      expect([path, ignored(path)]).toEqual([path, false]);
    }
  });
});

describe("deploy/docker/healthcheck.js (the images' HEALTHCHECK and the gateway's probe with API keys)", () => {
  const script = join(root, 'deploy/docker/healthcheck.js');
  const run = (args: string[], env: Record<string, string>) =>
    new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [script, ...args], {
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: 'ignore',
      });
      child.on('exit', (code) => resolve(code));
    });

  it("GETs /health/ready on the service's port, with the first API key for a gateway; 0 only on a 2xx", async () => {
    const seen: { url?: string; auth?: string }[] = [];
    let status = 200;
    const server = createServer((req, res) => {
      seen.push({ url: req.url, auth: req.headers.authorization });
      res.statusCode = status;
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = String((server.address() as AddressInfo).port);
    const dir = mkdtempSync(join(tmpdir(), 'healthcheck-'));
    try {
      writeFileSync(join(dir, 'keys'), '# the probe uses the first\nfirst-key-0123456789\nsecond-key-0123456789\n');
      expect(await run(['gateway'], { GATEWAY_PORT: port, GATEWAY_API_KEYS_FILE: join(dir, 'keys') })).toBe(0);
      expect(seen[0]).toEqual({ url: '/health/ready', auth: 'Bearer first-key-0123456789' });
      status = 503;
      expect(await run(['inference', '/health/live'], { INFERENCE_PORT: port })).toBe(1);
      expect(seen[1]).toEqual({ url: '/health/live', auth: undefined });
    } finally {
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
    expect(await run(['preprocessor'], { PREPROCESSOR_PORT: port })).toBe(1); // nothing listens now
    expect(await run(['no-such-service'], {})).toBe(2);
  });
});

describe('deploy/docker-compose.yml on top of docker-compose.kafka.yml', () => {
  it('builds each service from its target, on the compose network, with an env each service accepts', () => {
    expect(checkCompose(root)).toEqual([]);
  });
});

describe('the Helm chart', () => {
  it('names in values.yaml only variables the services read (NAME_FILE for secrets)', () => {
    expect(checkValuesEnvNames(root)).toEqual([]);
    const known = knownEnvNames(root);
    // the scan finds the loaders' names, and the secrets' _FILE variants
    for (const name of [
      'KAFKA_BROKERS',
      'STAGE_DRAIN_TIMEOUT_MS',
      'METRICS_PORT',
      'LOG_FORMAT',
      'KAFKA_SASL_PASSWORD_FILE',
    ]) {
      expect([name, known.has(name)]).toEqual([name, true]);
    }
    expect(known.has('KAFKA_PASSWORD')).toBe(false);
  });

  if (process.env.CI) {
    it('has its tools in CI (.ci/run installs them)', () => {
      expect({ helm: !!helm, kubeconform: !!kc, schemas: schemaLocations().missing }).toEqual({
        helm: true,
        kubeconform: true,
        schemas: [],
      });
    });
  }

  const withHelm = helm ? describe : describe.skip;
  withHelm('rendered (helm template)', () => {
    // Rendered once each, when a test first asks (describe.skip still runs this body).
    const cache: Record<string, ReturnType<typeof renderChart>> = {};
    const renders = new Proxy(cache, {
      get: (target, name: string) => (target[name] ??= renderChart(helm!, root, VALUE_SETS[name])),
    });

    it.each(Object.keys(VALUE_SETS))('%s: fits what the services read and do', (name) => {
      expect(
        checkManifests(renders[name].docs, { root, knownEnv: knownEnvNames(root), scalerMetadata: scalerMetadata() }),
      ).toEqual([]);
    });

    it('caps the stages at the partition count and scales the gateway on CPU', () => {
      const so = (docs: Manifest[], service: string) =>
        docs.find((d) => d.kind === 'ScaledObject' && d.metadata.name === `ktc-kafka-text-classifier-${service}`)!
          .spec as { maxReplicaCount: number; triggers: { type: string; metadata: Record<string, string> }[] };
      const small = renders['more-replicas-than-partitions'].docs;
      expect(so(small, 'inference').maxReplicaCount).toBe(2);
      expect(so(small, 'gateway').triggers[0].type).toBe('cpu');
      const secured = renders['secured-cluster'].docs;
      expect(so(secured, 'preprocessor').triggers[0].metadata).toMatchObject({
        consumerGroup: 'prod-preprocessor',
        topic: 'raw',
      });
      expect(so(secured, 'inference').maxReplicaCount).toBe(6);
      expect(renders['no-keda'].docs.filter((d) => d.kind === 'ScaledObject')).toEqual([]);
    });

    it('the checks fail a manifest that does not fit', () => {
      const docs = structuredClone(renders.defaults.docs);
      const inference = docs.find(
        (d) => d.kind === 'Deployment' && d.metadata.name.endsWith('-inference'),
      ) as Manifest & {
        spec: {
          template: {
            spec: { terminationGracePeriodSeconds: number; containers: { readinessProbe: unknown; env?: unknown[] }[] };
          };
        };
      };
      inference.spec.template.spec.terminationGracePeriodSeconds = 15;
      inference.spec.template.spec.containers[0].readinessProbe = { httpGet: { path: '/health/ready', port: 3001 } };
      inference.spec.template.spec.containers[0].env = [{ name: 'KAFKA_PASSWORD_FILE', value: '/x' }];
      const so = docs.find(
        (d) => d.kind === 'ScaledObject' && d.metadata.name.endsWith('-preprocessor'),
      ) as Manifest & {
        spec: { maxReplicaCount: number; triggers: { metadata: Record<string, string> }[] };
      };
      so.spec.maxReplicaCount = 7;
      so.spec.triggers[0].metadata.consumerGroup = 'preprocessors';
      so.spec.triggers[0].metadata.lagTreshold = '10';
      const scalers = { kafka: ['bootstrapServers', 'consumerGroup', 'topic', 'lagThreshold'], cpu: ['value'] };
      const problems = checkManifests(docs, { root, knownEnv: knownEnvNames(root), scalerMetadata: scalers }).join(
        '\n',
      );
      expect(problems).toMatch(/inference: terminationGracePeriodSeconds 15 does not exceed/);
      expect(problems).toMatch(/inference: readinessProbe must GET \/health\/ready on 3002/);
      expect(problems).toMatch(/env KAFKA_PASSWORD_FILE is read by no service/);
      expect(problems).toMatch(/maxReplicaCount 7 exceeds the 6 partitions/);
      expect(problems).toMatch(/consumerGroup preprocessors, the stage's is preprocessor/);
      expect(problems).toMatch(/kafka trigger: KEDA's scaler reads no metadata "lagTreshold"/);
    });

    const withKubeconform = kc && schemasReady ? describe : describe.skip;
    withKubeconform(
      'validated against the Kubernetes schemas and the KEDA / Prometheus Operator CRDs (kubeconform)',
      () => {
        it.each(Object.keys(VALUE_SETS).flatMap((name) => K8S_VERSIONS.map((v) => [name, v])))(
          '%s on Kubernetes %s',
          (name, version) => {
            const result = kubeconform(kc!, renders[name].yaml, version);
            expect(result.output).toMatch(/Invalid: 0, Errors: 0, Skipped: 0/);
            expect(result.ok).toBe(true);
          },
        );

        it('rejects a misspelt field', () => {
          const yaml = renders.defaults.yaml.replace('terminationGracePeriodSeconds:', 'terminationGracePeriodSecond:');
          const result = kubeconform(kc!, yaml, K8S_VERSIONS[1]);
          expect(result.ok).toBe(false);
          expect(result.output).toMatch(/terminationGracePeriodSecond/);
        });
      },
    );
  });

  it('npm run deploy:check passes, and says what it could not run', () => {
    const report = runDeployCheck(root);
    expect(report.problems).toEqual([]);
    expect(report.notRun).toEqual(
      helm && kc && schemasReady ? [] : expect.arrayContaining([expect.stringMatching(/helm|kubeconform/)]),
    );
  });
});
