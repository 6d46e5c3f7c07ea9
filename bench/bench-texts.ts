import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '@app/config';

/** Deterministic PRNG (mulberry32), so every run measures the same texts. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Mixed-length texts cut from minilm-spam's test split (English mail, for both models, so ceilings compare): word counts spread from a few words to past the
 * model's max length, as a real stream of short messages and long mails would be.
 */
export function benchTexts(count: number, seed = 42): string[] {
  const split = readFileSync(join(projectRoot(), 'test/fixtures/model/minilm-spam/test-split.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { text: string }).text.split(/\s+/).filter(Boolean));
  const random = prng(seed);
  const texts: string[] = [];
  for (let i = 0; i < count; i++) {
    const words = split[Math.floor(random() * split.length)];
    // Log-uniform between 3 and 200 words.
    const n = Math.max(3, Math.round(Math.exp(Math.log(3) + random() * (Math.log(200) - Math.log(3)))));
    const start = Math.floor(random() * Math.max(1, words.length - n));
    texts.push(words.slice(start, start + n).join(' ') || 'empty');
  }
  return texts;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
