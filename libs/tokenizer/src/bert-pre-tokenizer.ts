import { PUNCTUATION, SPLIT_WHITESPACE } from './bert-unicode-tables';
import { charClass } from './unicode-class';

/** Regex class body of the characters that separate words (Rust char::is_whitespace). */
export const WHITESPACE_CLASS = charClass(SPLIT_WHITESPACE);
const PUNCT_CLASS = charClass(PUNCTUATION);
const WORD_RE = new RegExp(`[^${WHITESPACE_CLASS}${PUNCT_CLASS}]+|[${PUNCT_CLASS}]`, 'gu');

/**
 * HF BertPreTokenizer: split on whitespace (dropped), each punctuation character its own word.
 * Calls `visit` for each word until it returns false (so a caller can stop once truncated).
 */
export function forEachBertWord(text: string, visit: (word: string) => boolean): void {
  WORD_RE.lastIndex = 0;
  for (let match = WORD_RE.exec(text); match !== null; match = WORD_RE.exec(text)) {
    if (!visit(match[0])) return;
  }
}

export function bertPreTokenize(text: string): string[] {
  return text.match(WORD_RE) ?? [];
}
