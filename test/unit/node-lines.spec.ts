import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '@app/config';
import {
  checkNodeLines,
  checkProjectNodeLines,
  enginesAdmit,
  NodeLine,
  nodeMajorOfImage,
  readNodeLines,
  shippedNodeImages,
} from '../../tools/deploy-check/node-lines';

const root = projectRoot();

describe('.ci/node-lines against what the project ships', () => {
  it('the images run the line CI tests in full, that line is maintained today, engines admit every tested line', () => {
    expect(checkProjectNodeLines(root)).toEqual([]);
  });

  it('the Dockerfile builds and runs on that line, and the CUDA image takes its Node from the build stage', () => {
    const full = readNodeLines(root).find((l) => l.tiers.includes('all'))!;
    const dockerfile = shippedNodeImages(root).filter((i) => i.where.startsWith('deploy/Dockerfile'));
    expect(dockerfile.filter((i) => nodeMajorOfImage(i.image) === full.major).map((i) => i.where)).toEqual(
      expect.arrayContaining(['deploy/Dockerfile (build)', 'deploy/Dockerfile (runtime)']),
    );
    expect(readFileSync(join(root, 'deploy/Dockerfile'), 'utf8')).toContain(
      'COPY --from=build /usr/local/bin/node /usr/local/bin/node',
    );
  });

  it('docs/node-versions.md names each tested line, and Node 20 as end of life', () => {
    const readme = readFileSync(join(root, 'docs/node-versions.md'), 'utf8');
    const lines = readNodeLines(root);
    for (const line of lines) expect([line.major, readme.includes(`Node ${line.major}`)]).toEqual([line.major, true]);
    expect(readme).toMatch(/Node 20[^\n]*end of life/);
  });

  it('scripts/node-line.sh and .ci/run read the same file', () => {
    expect(readFileSync(join(root, 'scripts/node-line.sh'), 'utf8')).toContain('.ci/node-lines');
    expect(readFileSync(join(root, '.ci/run'), 'utf8')).toContain('.ci/node-lines');
  });
});

describe('the node-lines rules catch what they claim to', () => {
  const lines: NodeLine[] = [
    { major: 26, version: '26.12.1', endOfLife: '2029-04-30', tiers: ['all'] },
    { major: 20, version: 'machine', endOfLife: '2026-04-30', tiers: ['unit', 'integration'] },
  ];

  it('an image of another line, an ended full line and engines that exclude a tested line', () => {
    const images = [
      { where: 'Dockerfile (build)', image: 'node:20-bookworm-slim' },
      { where: 'Dockerfile (runtime)', image: 'nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04' },
      { where: 'compose acls', image: 'docker.io/library/node:26-slim' },
    ];
    expect(checkNodeLines(lines, images, '^22.13.0 || >=24', new Date('2029-05-01T00:00:00Z'))).toEqual([
      ".ci/node-lines: Node 26, the full test's line, reached end of life on 2029-04-30",
      'Dockerfile (build): node:20-bookworm-slim is Node 20; CI runs the full npm test on Node 26 (.ci/node-lines)',
      'package.json engines "^22.13.0 || >=24" exclude Node 20 (machine), a tested line',
    ]);
    expect(checkNodeLines(lines, images.slice(1), '^20.19.0 || ^26.0.0', new Date('2026-12-07T00:00:00Z'))).toEqual([]);
  });

  it('exactly one line runs the full test', () => {
    const two = lines.map((l) => ({ ...l, tiers: ['all'] }));
    expect(checkNodeLines(two, [], '>=20', new Date('2026-12-07T00:00:00Z'))).toEqual([
      '.ci/node-lines: 2 lines run "all"; exactly one must',
      ".ci/node-lines: Node 20, the full test's line, reached end of life on 2026-04-30",
    ]);
  });

  it('reads node images and engines ranges', () => {
    expect(nodeMajorOfImage('node:26-trixie-slim')).toBe(26);
    expect(nodeMajorOfImage('node:24')).toBe(24);
    expect(nodeMajorOfImage('node:22.23.5-alpine')).toBe(22);
    expect(nodeMajorOfImage('nodered/node-red:4')).toBeUndefined();
    expect(nodeMajorOfImage('apache/kafka:3.9.2')).toBeUndefined();
    const range = '^20.19.0 || ^22.13.0 || ^24.0.0 || ^26.0.0';
    expect(['20.20.2', '22.23.5', '24.0.0', '26.12.1'].map((v) => enginesAdmit(range, v))).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(['20.18.9', '22.12.0', '25.1.0', '27.0.0', '18.20.0'].map((v) => enginesAdmit(range, v))).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(enginesAdmit('>=24', '27.0.0')).toBe(true);
    expect(() => enginesAdmit('~22', '22.0.0')).toThrow(/not \^x.y.z or >=x.y.z/);
  });
});
