// `npm run deploy:smoke`: the nearest thing to `docker build` + `docker run` without a Docker engine.
// It lays out each target's /app from deploy/Dockerfile's own COPY, ENV, WORKDIR and CMD lines
// (the build stage's /app = this checkout's `npm run build` output plus production-only
// node_modules from `npm ci --omit=dev`), starts the three CMDs with the image's ENV against the
// running Kafka and registry (KAFKA_BROKERS, SCHEMA_REGISTRY_URL), waits for each HEALTHCHECK,
// sends POST /predict, and stops them with SIGTERM. The CMDs run on the base image's Node line (its
// pinned binary from .ci/node-lines). What it cannot show: the rest of the base images, the
// non-root user's permissions, and the container's network.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { projectRoot } from '@app/config';
import { parseDockerfile, Stage, stages } from './dockerfile-lint';
import { nodeMajorOfImage, shippedNodeImages } from './node-lines';

const TARGETS = ['gateway', 'preprocessor', 'inference'] as const;

/** The target's instructions, its base stages' first (`FROM runtime AS gateway` → runtime's, then gateway's). */
function chain(all: Stage[], name: string): Stage[] {
  const stage = all.find((s) => s.name === name);
  if (!stage) throw new Error(`no stage ${name}`);
  return all.some((s) => s.name === stage.image) ? [...chain(all, stage.image), stage] : [stage];
}

/** `ENV A=1 B="x y"` → pairs. */
function envPairs(args: string): [string, string][] {
  return [...args.matchAll(/(\w+)=("[^"]*"|\S+)/g)].map((m) => [m[1], m[2].replace(/^"|"$/g, '')]);
}

interface Layout {
  root: string;
  workdir: string;
  env: Record<string, string>;
  cmd: string[];
  healthcheck: string[];
}

/** Applies a target's COPY/ENV/WORKDIR/CMD/HEALTHCHECK to a folder standing for the image's /. */
export function layOut(dockerfile: string, target: string, context: string, buildApp: string, out: string): Layout {
  const layout: Layout = { root: out, workdir: '/', env: {}, cmd: [], healthcheck: [] };
  for (const stage of chain(stages(parseDockerfile(dockerfile)), target)) {
    for (const ins of stage.instructions) {
      if (ins.keyword === 'WORKDIR') layout.workdir = posix.resolve(layout.workdir, ins.args);
      if (ins.keyword === 'ENV') Object.assign(layout.env, Object.fromEntries(envPairs(ins.args)));
      if (ins.keyword === 'CMD') layout.cmd = JSON.parse(ins.args) as string[];
      if (ins.keyword === 'HEALTHCHECK')
        layout.healthcheck = JSON.parse(ins.args.replace(/^.*?CMD\s+/, '')) as string[];
      if (ins.keyword !== 'COPY') continue;
      const words = ins.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const [dest, ...sources] = words.filter((w) => !w.startsWith('--')).reverse();
      for (const source of sources.reverse()) {
        let src: string;
        if (from === undefined) src = join(context, source);
        else if (source.startsWith('/app/')) src = join(buildApp, source.slice('/app/'.length));
        else continue; // the node binary: the host's node stands in for it
        const target = join(out, posix.resolve(layout.workdir, dest), dest.endsWith('/') ? posix.basename(source) : '');
        mkdirSync(dirname(target), { recursive: true });
        // node_modules is linked, not copied: the same files, without a copy per target.
        if (posix.basename(source) === 'node_modules') symlinkSync(src, target);
        else cpSync(src, target, { recursive: true, verbatimSymlinks: true });
      }
    }
  }
  return layout;
}

/** The Node of the Dockerfile's node base: the pinned binary of that line (scripts/node-line.sh). */
function imageNode(root: string): string {
  const major = shippedNodeImages(root)
    .filter((i) => i.where.startsWith('deploy/Dockerfile'))
    .map((i) => nodeMajorOfImage(i.image))
    .find((m) => m !== undefined);
  if (major === undefined) return process.execPath;
  const bin = execFileSync('bash', [join(root, 'scripts/node-line.sh'), String(major)], { encoding: 'utf8' }).trim();
  return join(bin, 'node');
}

async function waitHealthy(layout: Layout, env: Record<string, string>, node: string, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 1000))) {
    const [bin, ...args] = layout.healthcheck;
    const r = spawnSync(bin === 'node' ? node : bin, args, { cwd: join(layout.root, layout.workdir), env });
    if (r.status === 0) return true;
  }
  return false;
}

async function main(): Promise<void> {
  const root = projectRoot();
  const dockerfile = readFileSync(join(root, 'deploy/Dockerfile'), 'utf8');
  const work = mkdtempSync(join(tmpdir(), 'deploy-smoke-'));
  const buildApp = join(work, 'build-app');
  console.log(`smoke: build stage → ${buildApp} (npm run build; npm ci --omit=dev)`);
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  mkdirSync(buildApp);
  for (const f of ['package.json', 'package-lock.json', '.npmrc']) cpSync(join(root, f), join(buildApp, f));
  execFileSync('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], {
    cwd: buildApp,
    stdio: 'inherit',
  });
  cpSync(join(root, 'dist'), join(buildApp, 'dist'), { recursive: true });

  const node = imageNode(root);
  console.log(
    `smoke: the images' CMDs run on ${node} (${execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()})`,
  );
  const base = Number(process.env.SMOKE_PORT_BASE ?? 13300);
  const shared = {
    PATH: process.env.PATH ?? '',
    KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? 'localhost:9092',
    SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL ?? 'http://localhost:8081/apis/ccompat/v7',
    // Topics and groups of its own: a stage's new group reads its topic from the beginning.
    KAFKA_GROUP_ID_PREFIX: `smoke-${process.pid}-`,
    TOPIC_RAW: `smoke-${process.pid}-raw`,
    TOPIC_TOKENIZED: `smoke-${process.pid}-tokenized`,
    TOPIC_PREDICTIONS: `smoke-${process.pid}-predictions`,
    HTTP_HOST: '127.0.0.1',
    GATEWAY_PORT: String(base),
    PREPROCESSOR_PORT: String(base + 1),
    INFERENCE_PORT: String(base + 2),
    PREPROCESSOR_URL: `http://127.0.0.1:${base + 1}`,
    INFERENCE_URL: `http://127.0.0.1:${base + 2}`,
    ORT_SESSIONS: '1',
  };
  const children = [];
  let ok = true;
  try {
    for (const target of TARGETS) {
      const layout = layOut(dockerfile, target, root, buildApp, join(work, target));
      // The image's ENV, with this machine's ports and Kafka; paths under / become paths under the layout.
      const env: Record<string, string> = { ...layout.env, ...shared };
      if (env.MODEL_DIR) env.MODEL_DIR = join(layout.root, env.MODEL_DIR);
      const [bin, ...args] = layout.cmd;
      const child = spawn(bin === 'node' ? node : bin, args, {
        cwd: join(layout.root, layout.workdir),
        env,
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.push({ target, child, layout, env });
    }
    for (const { target, layout, env } of children) {
      const healthy = await waitHealthy(layout, env, node, 120_000);
      console.log(`smoke: ${target} HEALTHCHECK ${healthy ? 'passes' : 'FAILED within 120 s'}`);
      ok &&= healthy;
    }
    if (ok) {
      for (const text of ['这是一个政治新闻。', 'Apple unveils a faster chip for its new laptops.']) {
        const res = await fetch(`http://127.0.0.1:${base}/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text }),
        });
        const body = (await res.json()) as { category?: string };
        console.log(`smoke: POST /predict ${JSON.stringify(text)} → ${res.status} ${body.category}`);
        ok &&= res.status === 200 && typeof body.category === 'string';
      }
    }
  } finally {
    for (const { target, child } of children.reverse()) {
      const started = Date.now();
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      const code = await exited;
      console.log(`smoke: ${target} exited ${code} ${Date.now() - started} ms after SIGTERM`);
      ok &&= code === 0;
    }
    if (!process.env.SMOKE_KEEP) rmSync(work, { recursive: true, force: true });
  }
  console.log(`deploy:smoke: ${ok ? 'ok' : 'FAILED'}`);
  process.exit(ok ? 0 : 1);
}

if (require.main === module && existsSync(join(projectRoot(), 'deploy/Dockerfile'))) void main();
