import { BertNormalizer } from './bert-normalizer';
import { forEachBertWord, WHITESPACE_CLASS } from './bert-pre-tokenizer';
import { AddedTokenSpec, readTokenizerJson, parseTokenizerJson, TokenizerSpec } from './tokenizer-json';
import { TokenizerLoadError } from './tokenizer.errors';
import { WordPiece } from './word-piece';

export interface TextEncoding {
  /** [CLS] … [SEP] ids, at most maxLength of them. */
  inputIds: number[];
  /** inputIds.length. */
  tokenCount: number;
  /** The untruncated encoding was longer than maxLength. */
  truncated: boolean;
}

const CHUNK_CHARS = 512;

/** An added-token match becomes its id; the text between matches stays a string. */
type Piece = string | number;

/**
 * Encodes text exactly as HF `tokenizers` does for a BERT-family tokenizer.json (BertNormalizer,
 * BertPreTokenizer, WordPiece, [CLS]/[SEP] post-processing, truncation to maxLength), with no
 * padding: batches are padded where they are run.
 */
export class TextTokenizer {
  readonly vocabSize: number;
  private readonly normalizer: BertNormalizer | null;
  private readonly wordPiece: WordPiece;
  private readonly rawAdded: AddedTokenMatcher | null;
  private readonly normalizedAdded: AddedTokenMatcher | null;
  private readonly prefixIds: readonly number[];
  private readonly suffixIds: readonly number[];
  private readonly budget: number;
  private readonly chunkable: boolean;

  private constructor(
    spec: TokenizerSpec,
    readonly maxLength: number,
    source: string,
  ) {
    const specials = spec.prefixIds.length + spec.suffixIds.length;
    if (!Number.isInteger(maxLength) || maxLength <= specials) {
      throw new TokenizerLoadError(
        source,
        `maxLength must be an integer above ${specials} (its special tokens), got ${maxLength}`,
      );
    }
    this.normalizer = spec.normalizer && new BertNormalizer(spec.normalizer);
    this.wordPiece = new WordPiece(spec);
    this.rawAdded = AddedTokenMatcher.create(spec.addedTokens.filter((t) => !t.normalized));
    // HF matches normalized added tokens by their normalized form.
    const normalizedTokens = spec.addedTokens
      .filter((t) => t.normalized)
      .map((t) => ({ ...t, content: this.normalizer ? this.normalizer.normalize(t.content) : t.content }));
    this.normalizedAdded = AddedTokenMatcher.create(normalizedTokens);
    this.prefixIds = spec.prefixIds;
    this.suffixIds = spec.suffixIds;
    this.budget = maxLength - specials;
    // encode() cuts long texts before spaces, which must not split an added token.
    this.chunkable = ![...spec.addedTokens, ...normalizedTokens].some((t) => t.content.includes(' '));
    let maxId = -1;
    for (const id of spec.vocab.values()) maxId = Math.max(maxId, id);
    for (const token of spec.addedTokens) maxId = Math.max(maxId, token.id);
    // Every id this tokenizer emits is below vocabSize (the model's embedding rows).
    this.vocabSize = maxId + 1;
  }

  /** Loads a Hugging Face tokenizer.json; throws TokenizerLoadError naming the file. */
  static fromFile(tokenizerJsonPath: string, maxLength: number): TextTokenizer {
    return new TextTokenizer(readTokenizerJson(tokenizerJsonPath), maxLength, tokenizerJsonPath);
  }

  /** From an already parsed tokenizer.json (tests, embedded tokenizers). */
  static fromJson(json: unknown, maxLength: number, source = '<tokenizer.json>'): TextTokenizer {
    return new TextTokenizer(parseTokenizerJson(json, source), maxLength, source);
  }

  encode(text: string): TextEncoding {
    const ids: number[] = [];
    // One more than the budget is enough to know the text is truncated: stop there.
    const limit = this.budget + 1;
    if (!this.chunkable) {
      this.pushText(text, ids, limit);
    } else {
      // Long texts are mostly cut at maxLength tokens: work through them a chunk at a time and
      // stop early. A cut just before an ASCII space changes nothing: every step of the pipeline
      // treats a space as a boundary (and no added token contains one).
      for (let start = 0; start < text.length && ids.length < limit;) {
        let end = start + CHUNK_CHARS >= text.length ? text.length : text.indexOf(' ', start + CHUNK_CHARS);
        if (end < 0) end = text.length;
        this.pushText(text.slice(start, end), ids, limit);
        start = end;
      }
    }
    const truncated = ids.length > this.budget;
    if (truncated) ids.length = this.budget;
    const inputIds = [...this.prefixIds, ...ids, ...this.suffixIds];
    return { inputIds, tokenCount: inputIds.length, truncated };
  }

  encodeBatch(texts: string[]): TextEncoding[] {
    return texts.map((text) => this.encode(text));
  }

  private pushText(text: string, ids: number[], limit: number): void {
    for (const piece of split(text, this.rawAdded)) {
      if (ids.length >= limit) return;
      if (typeof piece === 'number') {
        ids.push(piece);
        continue;
      }
      const normalized = this.normalizer ? this.normalizer.normalize(piece) : piece;
      for (const part of split(normalized, this.normalizedAdded)) {
        if (ids.length >= limit) return;
        if (typeof part === 'number') ids.push(part);
        else this.pushWords(part, ids, limit);
      }
    }
  }

  private pushWords(text: string, ids: number[], limit: number): void {
    forEachBertWord(text, (word) => {
      for (const id of this.wordPiece.tokenize(word)) ids.push(id);
      return ids.length < limit;
    });
  }
}

function split(text: string, matcher: AddedTokenMatcher | null): Piece[] {
  return matcher ? matcher.split(text) : [text];
}

/** Leftmost-longest matching of added tokens ([CLS], [SEP], …), as HF's trie does. */
class AddedTokenMatcher {
  private constructor(
    private readonly pattern: RegExp,
    private readonly ids: ReadonlyMap<string, number>,
  ) {}

  static create(tokens: AddedTokenSpec[]): AddedTokenMatcher | null {
    if (tokens.length === 0) return null;
    const byLength = [...tokens].sort((a, b) => b.content.length - a.content.length);
    const alternatives = byLength.map(
      (t) =>
        `${t.lstrip ? `[${WHITESPACE_CLASS}]*` : ''}(${escapeRegExp(t.content)})${t.rstrip ? `[${WHITESPACE_CLASS}]*` : ''}`,
    );
    const ids = new Map(byLength.map((t) => [t.content, t.id] as const));
    return new AddedTokenMatcher(new RegExp(alternatives.join('|'), 'gu'), ids);
  }

  split(text: string): Piece[] {
    const pieces: Piece[] = [];
    let last = 0;
    this.pattern.lastIndex = 0;
    for (let match = this.pattern.exec(text); match !== null; match = this.pattern.exec(text)) {
      if (match.index > last) pieces.push(text.slice(last, match.index));
      const content = match.slice(1).find((group) => group !== undefined) as string;
      pieces.push(this.ids.get(content) as number);
      last = match.index + match[0].length;
    }
    if (last < text.length) pieces.push(text.slice(last));
    return pieces;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
