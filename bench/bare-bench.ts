// npm run bench:bare — the bare ceiling alone (bench/bare-ceiling.ts): onnxruntime-node and Python
// onnxruntime called directly, and this project's OnnxClassifier, on the same batches of
// BENCH_TEXTS (2,000) bench texts, BENCH_ROUNDS (3) alternating rounds. No Kafka. Writes
// bench/results/bare-<timestamp>.{json,md}. `npm run bench` runs the same measurement as its part (a).
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadConfig, projectRoot } from '@app/config';
import { benchTexts } from './bench-texts';
import { bareMarkdown, measureBareCeiling } from './bare-ceiling';
import { describeMachine, machineLine } from './machine';
import { ensureBenchVenv } from './python-venv';

const log = (msg: string) => process.stderr.write(`[bench:bare] ${msg}\n`);

async function main(): Promise<void> {
  const config = loadConfig();
  const python = ensureBenchVenv(log);
  const texts = benchTexts(Number(process.env.BENCH_TEXTS ?? 2000));
  const machine = describeMachine();
  const bare = await measureBareCeiling(config, texts, { rounds: Number(process.env.BENCH_ROUNDS ?? 3), python, log });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = join(projectRoot(), 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, `bare-${stamp}.json`),
    JSON.stringify({ model_dir: config.model.dir, machine, ...bare }, null, 2),
  );
  const md = [
    `# Bare ceiling, ${basename(config.model.dir)} (${stamp})`,
    '',
    machineLine(machine),
    '',
    ...bareMarkdown(bare),
  ].join('\n');
  writeFileSync(join(out, `bare-${stamp}.md`), md + '\n');
  process.stdout.write(md + '\n');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
