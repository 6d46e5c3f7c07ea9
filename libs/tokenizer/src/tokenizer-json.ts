import { readFileSync } from 'node:fs';
import { BertNormalizerOptions } from './bert-normalizer';
import { TokenizerLoadError } from './tokenizer.errors';

/** A token of tokenizer.json's `added_tokens`, matched in the text before WordPiece. */
export interface AddedTokenSpec {
  content: string;
  id: number;
  /** false: matched on the raw text; true: matched on the normalized text. */
  normalized: boolean;
  lstrip: boolean;
  rstrip: boolean;
}

/** What encoding needs from a tokenizer.json, validated. */
export interface TokenizerSpec {
  normalizer: BertNormalizerOptions | null;
  vocab: Map<string, number>;
  unkId: number;
  continuingSubwordPrefix: string;
  maxInputCharsPerWord: number;
  addedTokens: AddedTokenSpec[];
  /** Ids the post-processor puts around a single sequence ([CLS] … [SEP] for BERT). */
  prefixIds: number[];
  suffixIds: number[];
}

type Json = Record<string, unknown>;

export function readTokenizerJson(file: string): TokenizerSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(error);
    throw new TokenizerLoadError(file, reason, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new TokenizerLoadError(file, `not valid JSON (${(error as Error).message})`, { cause: error });
  }
  return parseTokenizerJson(json, file);
}

/** Validates a parsed tokenizer.json; `file` only names the source in errors. */
export function parseTokenizerJson(json: unknown, file: string): TokenizerSpec {
  const fail = (reason: string): never => {
    throw new TokenizerLoadError(file, reason);
  };
  if (!isObject(json)) return fail('not a JSON object');

  const model = json.model;
  if (!isObject(model)) return fail('"model" is missing');
  if (model.type !== 'WordPiece') {
    return fail(`model.type is ${JSON.stringify(model.type)}; only WordPiece (BERT family) is supported`);
  }
  if (!isObject(model.vocab)) return fail('model.vocab is missing');
  const vocab = new Map<string, number>();
  for (const [piece, id] of Object.entries(model.vocab)) {
    if (!isIndex(id)) return fail(`model.vocab[${JSON.stringify(piece)}] is not a non-negative integer`);
    vocab.set(piece, id);
  }
  const unkToken = stringField(model, 'unk_token', '[UNK]', 'model.unk_token', fail);
  const unkId = vocab.get(unkToken) ?? fail(`model.unk_token ${JSON.stringify(unkToken)} is not in model.vocab`);
  const continuingSubwordPrefix = stringField(
    model,
    'continuing_subword_prefix',
    '##',
    'model.continuing_subword_prefix',
    fail,
  );
  const maxInputCharsPerWord = model.max_input_chars_per_word ?? 100;
  if (!isIndex(maxInputCharsPerWord)) return fail('model.max_input_chars_per_word is not a non-negative integer');

  checkPreTokenizer(json.pre_tokenizer, fail);
  return {
    normalizer: parseNormalizer(json.normalizer, fail),
    vocab,
    unkId,
    continuingSubwordPrefix,
    maxInputCharsPerWord,
    addedTokens: parseAddedTokens(json.added_tokens, fail),
    ...parsePostProcessor(json.post_processor, vocab, fail),
  };
}

function parseNormalizer(value: unknown, fail: (reason: string) => never): BertNormalizerOptions | null {
  if (value === null || value === undefined) return null;
  if (!isObject(value) || value.type !== 'BertNormalizer') {
    return fail(
      `normalizer.type is ${JSON.stringify(isObject(value) ? value.type : value)}; only BertNormalizer is supported`,
    );
  }
  const flag = (name: string, fallback: boolean): boolean => {
    const v = value[name] ?? fallback;
    return typeof v === 'boolean' ? v : fail(`normalizer.${name} is not a boolean`);
  };
  const lowercase = flag('lowercase', true);
  // HF: strip_accents null means "same as lowercase".
  const stripAccents =
    value.strip_accents === null || value.strip_accents === undefined ? lowercase : flag('strip_accents', lowercase);
  return {
    cleanText: flag('clean_text', true),
    handleChineseChars: flag('handle_chinese_chars', true),
    stripAccents,
    lowercase,
  };
}

function checkPreTokenizer(value: unknown, fail: (reason: string) => never): void {
  if (!isObject(value) || value.type !== 'BertPreTokenizer') {
    fail(
      `pre_tokenizer.type is ${JSON.stringify(isObject(value) ? value.type : value)}; only BertPreTokenizer is supported`,
    );
  }
}

function parseAddedTokens(value: unknown, fail: (reason: string) => never): AddedTokenSpec[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return fail('added_tokens is not an array');
  return value.map((token: unknown, i): AddedTokenSpec => {
    const where = `added_tokens[${i}]`;
    if (!isObject(token) || typeof token.content !== 'string' || token.content === '' || !isIndex(token.id)) {
      return fail(`${where} needs a non-empty "content" and an integer "id"`);
    }
    if (token.single_word === true) return fail(`${where} (${token.content}) uses single_word, which is not supported`);
    return {
      content: token.content,
      id: token.id,
      normalized: token.normalized === true,
      lstrip: token.lstrip === true,
      rstrip: token.rstrip === true,
    };
  });
}

function parsePostProcessor(
  value: unknown,
  vocab: Map<string, number>,
  fail: (reason: string) => never,
): { prefixIds: number[]; suffixIds: number[] } {
  if (value === null || value === undefined) return { prefixIds: [], suffixIds: [] };
  if (!isObject(value)) return fail('post_processor is not an object');
  if (value.type === 'BertProcessing' || value.type === 'RobertaProcessing') {
    // [CLS] A [SEP], given as ["[CLS]", 101] pairs.
    const idOf = (name: 'cls' | 'sep'): number => {
      const pair = value[name];
      return Array.isArray(pair) && isIndex(pair[1])
        ? pair[1]
        : fail(`post_processor.${name} is not a [token, id] pair`);
    };
    return { prefixIds: [idOf('cls')], suffixIds: [idOf('sep')] };
  }
  if (value.type === 'TemplateProcessing') {
    if (!Array.isArray(value.single)) return fail('post_processor.single is not an array');
    const specials = isObject(value.special_tokens) ? value.special_tokens : {};
    const prefixIds: number[] = [];
    const suffixIds: number[] = [];
    let seenSequence = false;
    for (const piece of value.single as unknown[]) {
      if (isObject(piece) && isObject(piece.Sequence)) {
        if (seenSequence) return fail('post_processor.single has more than one Sequence');
        seenSequence = true;
      } else if (isObject(piece) && isObject(piece.SpecialToken) && typeof piece.SpecialToken.id === 'string') {
        const name = piece.SpecialToken.id;
        const special = specials[name];
        const ids =
          isObject(special) && Array.isArray(special.ids) && special.ids.every(isIndex) ? special.ids : undefined;
        const resolved =
          ids ??
          (vocab.has(name) ? [vocab.get(name) as number] : fail(`post_processor special token ${name} has no ids`));
        (seenSequence ? suffixIds : prefixIds).push(...resolved);
      } else {
        return fail('post_processor.single has an entry that is neither SpecialToken nor Sequence');
      }
    }
    if (!seenSequence) return fail('post_processor.single has no Sequence');
    return { prefixIds, suffixIds };
  }
  return fail(
    `post_processor.type is ${JSON.stringify(value.type)}; supported: TemplateProcessing, BertProcessing, RobertaProcessing`,
  );
}

function stringField(
  obj: Json,
  name: string,
  fallback: string,
  where: string,
  fail: (reason: string) => never,
): string {
  const value = obj[name] ?? fallback;
  return typeof value === 'string' ? value : fail(`${where} is not a string`);
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}
