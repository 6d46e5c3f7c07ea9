export interface WordPieceOptions {
  vocab: ReadonlyMap<string, number>;
  unkId: number;
  continuingSubwordPrefix: string;
  maxInputCharsPerWord: number;
}

// Words repeat a lot in a message stream; the cache is dropped whole when full (cheap, bounded).
const CACHE_LIMIT = 100_000;

/** HF WordPiece: greedy longest-match-first; a word with any unmatched rest becomes [UNK]. */
export class WordPiece {
  private readonly cache = new Map<string, readonly number[]>();
  private readonly unk: readonly number[];
  private readonly longestPiece: number;

  constructor(private readonly options: WordPieceOptions) {
    this.unk = [options.unkId];
    let longest = 0;
    for (const piece of options.vocab.keys()) longest = Math.max(longest, piece.length);
    this.longestPiece = longest;
  }

  tokenize(word: string): readonly number[] {
    let ids = this.cache.get(word);
    if (ids === undefined) {
      ids = this.split(word);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, ids);
    }
    return ids;
  }

  private split(word: string): readonly number[] {
    const { vocab, continuingSubwordPrefix: prefix, maxInputCharsPerWord } = this.options;
    if (word.length > maxInputCharsPerWord && codePointCount(word) > maxInputCharsPerWord) return this.unk;
    const ids: number[] = [];
    for (let start = 0; start < word.length;) {
      const prefixLength = start > 0 ? prefix.length : 0;
      // No vocab entry is longer than longestPiece, so longer candidates cannot match anyway.
      let end = Math.min(word.length, start + this.longestPiece - prefixLength);
      let id: number | undefined;
      while (start < end) {
        const piece = word.slice(start, end);
        id = vocab.get(start > 0 ? prefix + piece : piece);
        if (id !== undefined) break;
        end -= endsWithSurrogatePair(word, start, end) ? 2 : 1;
      }
      if (id === undefined) return this.unk;
      ids.push(id);
      start = end;
    }
    return ids;
  }
}

// Rust counts and cuts by chars (code points); JS strings are UTF-16.
function codePointCount(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff || i === 0 || !isHighSurrogate(s.charCodeAt(i - 1))) n++;
  }
  return n;
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function endsWithSurrogatePair(s: string, start: number, end: number): boolean {
  const last = s.charCodeAt(end - 1);
  return end - 2 >= start && last >= 0xdc00 && last <= 0xdfff && isHighSurrogate(s.charCodeAt(end - 2));
}
