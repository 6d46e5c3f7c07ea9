import type { CodePointRange } from './bert-unicode-tables';

/** The body of a regex character class (for the `u` flag) matching the given ranges. */
export function charClass(ranges: readonly CodePointRange[]): string {
  const hex = (cp: number) => `\\u{${cp.toString(16)}}`;
  return ranges.map(([first, last]) => (first === last ? hex(first) : `${hex(first)}-${hex(last)}`)).join('');
}
