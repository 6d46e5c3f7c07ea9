import { CJK, CLEAN_WHITESPACE, NFD_KEEP, NONSPACING_MARKS, REMOVED } from './bert-unicode-tables';
import { charClass } from './unicode-class';

export interface BertNormalizerOptions {
  cleanText: boolean;
  handleChineseChars: boolean;
  stripAccents: boolean;
  lowercase: boolean;
}

// Whole-string regex passes: far cheaper in V8 than a per-character loop.
const LONE_SURROGATE = /[\uD800-\uDFFF]/gu;
const REMOVED_RE = new RegExp(`[${charClass(REMOVED)}]`, 'gu');
const WHITESPACE_RE = new RegExp(`[${charClass(CLEAN_WHITESPACE.filter(([first]) => first !== 0x20))}]`, 'gu');
const CJK_RE = new RegExp(`[${charClass(CJK)}]`, 'gu');
const MARKS_RE = new RegExp(`[${charClass(NONSPACING_MARKS)}]`, 'gu');
const NFD_KEEP_RE = new RegExp(`([${charClass(NFD_KEEP)}])`, 'u');
const NON_ASCII = /[\u0080-\u{10FFFF}]/u;
const CAPITAL_SIGMA = /\u03A3/g;

/**
 * HF `tokenizers`' BertNormalizer, in its order: clean text, space out CJK ideographs, strip
 * accents (NFD, drop nonspacing marks), lowercase. Character classes are the Rust crate's own.
 */
export class BertNormalizer {
  constructor(private readonly options: BertNormalizerOptions) {}

  normalize(text: string): string {
    // A JS string may hold lone surrogates; UTF-8 (what Rust sees) would carry U+FFFD instead.
    let s = text.replace(LONE_SURROGATE, '\uFFFD');
    if (this.options.cleanText) s = s.replace(REMOVED_RE, '').replace(WHITESPACE_RE, ' ');
    if (this.options.handleChineseChars) s = s.replace(CJK_RE, ' $& ');
    if (this.options.stripAccents && NON_ASCII.test(s)) s = nfd(s).replace(MARKS_RE, '');
    if (this.options.lowercase) s = lowercase(s);
    return s;
  }
}

function nfd(s: string): string {
  if (!NFD_KEEP_RE.test(s)) return s.normalize('NFD');
  // Characters newer than the crate's Unicode tables stay as they are (odd parts are those).
  return s
    .split(NFD_KEEP_RE)
    .map((part, i) => (i % 2 === 1 ? part : part.normalize('NFD')))
    .join('');
}

/** Rust lowercases char by char; JS's toLowerCase differs only by Final_Sigma (Σ → ς at word end). */
function lowercase(s: string): string {
  return (s.includes('\u03A3') ? s.replace(CAPITAL_SIGMA, '\u03C3') : s).toLowerCase();
}
