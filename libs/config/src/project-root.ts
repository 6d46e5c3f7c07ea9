import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

let cached: string | undefined;

/**
 * The checkout's root (the folder holding schemas/ and models/). Found by walking up, so it works
 * from sources under ts-node/jest and from the Nest CLI's dist/ output alike.
 */
export function projectRoot(): string {
  if (cached) return cached;
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'schemas', 'raw.avsc')) && existsSync(join(dir, 'package.json'))) return (cached = dir);
    if (dirname(dir) === dir) return (cached = process.cwd());
  }
}
