import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '@app/config';

const VENV = join(projectRoot(), '.venv-bench');
const REQUIREMENTS = join(projectRoot(), 'bench/python-baseline/requirements.txt');

/** The Python of .venv-bench with bench/python-baseline/requirements.txt; rebuilt when that file changes. */
export function ensureBenchVenv(log: (msg: string) => void): string {
  const python = join(VENV, 'bin', 'python');
  const stamp = join(VENV, '.requirements');
  const wanted = readFileSync(REQUIREMENTS, 'utf8');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted) return python;
  log(`installing ${REQUIREMENTS} into ${VENV}`);
  execFileSync('python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
  execFileSync(python, ['-m', 'pip', 'install', '-q', '-r', REQUIREMENTS], { stdio: 'inherit' });
  writeFileSync(stamp, wanted);
  return python;
}
