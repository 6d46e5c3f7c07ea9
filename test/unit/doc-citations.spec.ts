import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { projectRoot } from '@app/config';

// bench/results/ is git-ignored, so a run stays on the machine that made it until someone adds it with
// `git add -f`. A document that cites a run its commit did not carry sends the reader to nothing (two
// runs the README cited were lost that way), so every run a tracked document names must be tracked too.

/** A run's stamp, in full with its kind's prefix if any (`python-2026-12-06T03-44-30-174Z`) or shortened (`…15-34-46-646Z`). */
const STAMP = /(?:(?:[a-z]+-)?\d{4}-\d\d-\d\dT|…T?)\d\d-\d\d-\d\d-\d{3}Z/g;

function tracked(...patterns: string[]): string[] {
  return execFileSync('git', ['ls-files', '--', ...patterns], { cwd: projectRoot(), encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
}

/** Each cited stamp, with the documents that cite it. */
function citedStamps(docs: { path: string; text: string }[]): Map<string, string[]> {
  const cited = new Map<string, string[]>();
  for (const { path, text } of docs)
    for (const [stamp] of text.matchAll(STAMP)) cited.set(stamp, [...(cited.get(stamp) ?? []), path]);
  return cited;
}

/** The stamps no tracked result file carries: a full stamp must start a file's name, a short one appear in it. */
function missingRuns(cited: Iterable<string>, results: string[]): string[] {
  const names = results.map((r) => r.slice(r.lastIndexOf('/') + 1));
  return [...cited].filter((stamp) =>
    stamp.startsWith('…')
      ? !names.some((n) => n.includes(stamp.replace(/^…T?/, '')))
      : !names.some((n) => n.startsWith(stamp)),
  );
}

describe('the runs the documents cite', () => {
  it('matches full and shortened stamps against the result files', () => {
    const cited = citedStamps([
      { path: 'a.md', text: '`bench/results/2026-12-07T15-34-46-646Z.json`, `…15-47-32-090Z` and …T16-00-16-950Z.md' },
      { path: 'b.md', text: 'python-2026-12-06T03-44-30-174Z, and the prefix `bench/results/gpu-` alone' },
    ]);
    expect([...cited.keys()]).toEqual([
      '2026-12-07T15-34-46-646Z',
      '…15-47-32-090Z',
      '…T16-00-16-950Z',
      'python-2026-12-06T03-44-30-174Z',
    ]);
    const results = ['bench/results/2026-12-07T15-34-46-646Z.json', 'bench/results/2026-12-07T16-00-16-950Z.svg'];
    expect(missingRuns(cited.keys(), results)).toEqual(['…15-47-32-090Z', 'python-2026-12-06T03-44-30-174Z']);
  });

  it('are all committed', () => {
    const docs = tracked('*.md')
      .filter((p) => !p.startsWith('bench/results/'))
      .map((path) => ({ path, text: readFileSync(`${projectRoot()}/${path}`, 'utf8') }));
    const cited = citedStamps(docs);
    expect(cited.size).toBeGreaterThan(0);
    const missing = missingRuns(cited.keys(), tracked('bench/results/'));
    expect(missing.map((stamp) => `${stamp} (cited in ${cited.get(stamp)!.join(', ')})`)).toEqual([]);
  });
});
