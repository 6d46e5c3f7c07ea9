import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MODEL_DIR, projectRoot } from '@app/config';
import { TextTokenizer } from './text-tokenizer';
import { TokenizerLoadError } from './tokenizer.errors';

// Ground truth: ids from the HF fast tokenizer (Python `tokenizers`), written by tools/model for each
// committed model: bge-small-zh-news (Chinese WordPiece vocabulary, lowercasing normalizer; Chinese,
// English and mixed texts) and minilm-spam (English uncased vocabulary).
const MODELS = [
  { dir: DEFAULT_MODEL_DIR, name: 'bge-small-zh-news', vocabSize: 21128 },
  { dir: join(projectRoot(), 'models', 'minilm-spam'), name: 'minilm-spam', vocabSize: 30522 },
];

interface Fixture {
  text: string;
  input_ids: number[];
}

function loadFixtures(name: string): { maxLength: number; items: Fixture[] } {
  const file = join(projectRoot(), 'test', 'fixtures', 'model', name, 'fixtures.json');
  if (!existsSync(file)) throw new Error(`${file} is missing: see tools/model/README.md`);
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { max_length: number; items: Fixture[] };
  return { maxLength: doc.max_length, items: doc.items };
}

describe.each(MODELS)('TextTokenizer on the committed model $name', ({ dir, name, vocabSize }) => {
  const TOKENIZER = join(dir, 'tokenizer.json');
  const { maxLength, items } = loadFixtures(name);
  const tokenizer = TextTokenizer.fromFile(TOKENIZER, maxLength);

  it('has the fixtures it needs', () => {
    expect(items.length).toBeGreaterThanOrEqual(200);
    expect(tokenizer.maxLength).toBe(maxLength);
    expect(tokenizer.vocabSize).toBe(vocabSize);
  });

  it('encodes every fixture text to exactly the ids of HF tokenizers', () => {
    const mismatches = items
      .map((item, index) => ({
        index,
        text: item.text.slice(0, 80),
        expected: item.input_ids,
        actual: tokenizer.encode(item.text).inputIds,
      }))
      .filter(
        ({ expected, actual }) => expected.length !== actual.length || expected.some((id, i) => id !== actual[i]),
      );
    expect(mismatches).toEqual([]);
  });

  it('lowercases: capitalised English maps to the lowercase pieces, never [UNK] (id 100)', () => {
    expect(tokenizer.encode('The Prime Minister SAID').inputIds).toEqual(
      tokenizer.encode('the prime minister said').inputIds,
    );
    expect(tokenizer.encode('The Prime Minister SAID').inputIds).not.toContain(100);
  });

  it('encodes a batch like one text at a time', () => {
    const texts = items.slice(0, 50).map((item) => item.text);
    expect(tokenizer.encodeBatch(texts)).toEqual(texts.map((text) => tokenizer.encode(text)));
  });

  it('flags truncation only when the full encoding is longer than maxLength', () => {
    const words = (n: number) => Array.from({ length: n }, () => 'a').join(' ');
    // "a" is one token in both vocabularies: n words + [CLS] + [SEP].
    expect(tokenizer.encode(words(maxLength - 2))).toMatchObject({ tokenCount: maxLength, truncated: false });
    const over = tokenizer.encode(words(maxLength - 1));
    expect(over).toMatchObject({ tokenCount: maxLength, truncated: true });
    expect(over.inputIds[0]).toBe(101);
    expect(over.inputIds[maxLength - 1]).toBe(102);
    expect(tokenizer.encode(words(5000))).toMatchObject({ tokenCount: maxLength, truncated: true });
    expect(tokenizer.encode('')).toEqual({ inputIds: [101, 102], tokenCount: 2, truncated: false });
  });

  it('flags as truncated exactly the fixtures whose full encoding is longer than maxLength', () => {
    const unlimited = TextTokenizer.fromFile(TOKENIZER, 1_000_000);
    let truncated = 0;
    for (const item of items) {
      const full = unlimited.encode(item.text);
      const encoding = tokenizer.encode(item.text);
      expect(encoding.truncated).toBe(full.tokenCount > maxLength);
      if (encoding.truncated) {
        truncated++;
        expect(encoding.inputIds).toEqual([
          ...full.inputIds.slice(0, maxLength - 1),
          full.inputIds[full.tokenCount - 1],
        ]);
      }
    }
    expect(truncated).toBeGreaterThan(0);
  });

  it('works through long texts in chunks without changing the result', () => {
    // An added token holding a space turns chunking off: that tokenizer sees the whole text.
    const json = JSON.parse(readFileSync(TOKENIZER, 'utf8')) as { added_tokens: unknown[] };
    json.added_tokens.push({ id: vocabSize, content: 'never in the text', normalized: false, special: true });
    const text = `${'ab '.repeat(170)}x${'Ünïcödé, 中文! '.repeat(80)}${'ΣΑΣ '.repeat(100)}`;
    for (const length of [maxLength, 512]) {
      const whole = TextTokenizer.fromJson(json, length).encode(text);
      expect(TextTokenizer.fromFile(TOKENIZER, length).encode(text)).toEqual(whole);
    }
  });
});

describe('TextTokenizer', () => {
  // A five-word BERT tokenizer, enough to pin the pipeline's steps.
  const vocab = {
    '[PAD]': 0,
    '[UNK]': 1,
    '[CLS]': 2,
    '[SEP]': 3,
    hello: 4,
    world: 5,
    '##s': 6,
    '!': 7,
    cafe: 8,
    中: 9,
  };
  const json = (overrides: Record<string, unknown> = {}) => ({
    version: '1.0',
    added_tokens: [0, 1, 2, 3].map((id) => ({ id, content: Object.keys(vocab)[id], normalized: false, special: true })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      special_tokens: { '[CLS]': { id: '[CLS]', ids: [2] }, '[SEP]': { id: '[SEP]', ids: [3] } },
    },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 10,
      vocab,
    },
    ...overrides,
  });

  it('normalizes, splits punctuation and CJK, and runs WordPiece', () => {
    const tokenizer = TextTokenizer.fromJson(json(), 32);
    expect(tokenizer.encode('HELLO\tworlds!中Café\u200b').inputIds).toEqual([2, 4, 5, 6, 7, 9, 8, 3]);
    expect(tokenizer.vocabSize).toBe(10);
  });

  it('maps unknown words and words over max_input_chars_per_word to [UNK]', () => {
    const tokenizer = TextTokenizer.fromJson(json(), 32);
    expect(tokenizer.encode('hellox helloss').inputIds).toEqual([2, 1, 4, 6, 6, 3]);
    expect(tokenizer.encode('hellosssss helloworlds').inputIds).toEqual([2, 4, 6, 6, 6, 6, 6, 1, 3]);
  });

  it('matches special tokens in the raw text, as HF does', () => {
    const tokenizer = TextTokenizer.fromJson(json(), 32);
    expect(tokenizer.encode('hello[SEP]world [UNK]').inputIds).toEqual([2, 4, 3, 5, 1, 3]);
  });

  it('reads BertProcessing and keeps the accents when told to', () => {
    const tokenizer = TextTokenizer.fromJson(
      json({
        post_processor: { type: 'BertProcessing', cls: ['[CLS]', 2], sep: ['[SEP]', 3] },
        normalizer: {
          type: 'BertNormalizer',
          clean_text: true,
          handle_chinese_chars: true,
          strip_accents: false,
          lowercase: true,
        },
      }),
      32,
    );
    expect(tokenizer.encode('Café cafe').inputIds).toEqual([2, 1, 8, 3]);
  });

  describe('errors', () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'tokenizer-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    const loadError = (file: string, maxLength = 32): TokenizerLoadError => {
      try {
        TextTokenizer.fromFile(file, maxLength);
      } catch (error) {
        expect(error).toBeInstanceOf(TokenizerLoadError);
        expect((error as TokenizerLoadError).file).toBe(file);
        expect((error as Error).message).toContain(file);
        return error as TokenizerLoadError;
      }
      throw new Error('fromFile did not throw');
    };
    const write = (content: unknown) => {
      const file = join(dir, 'tokenizer.json');
      writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
      return file;
    };

    it('names a missing file', () => {
      expect(loadError(join(dir, 'nope.json')).reason).toBe('file not found');
    });

    it.each([
      ['invalid JSON', '{"model": ', /not valid JSON/],
      ['a BPE model', json({ model: { type: 'BPE', vocab: {}, merges: [] } }), /model\.type is "BPE"/],
      ['an unknown normalizer', json({ normalizer: { type: 'NFKC' } }), /normalizer\.type is "NFKC"/],
      ['another pre-tokenizer', json({ pre_tokenizer: { type: 'ByteLevel' } }), /pre_tokenizer\.type is "ByteLevel"/],
      [
        'an [UNK] missing from the vocab',
        json({ model: { type: 'WordPiece', unk_token: '<unk>', vocab } }),
        /unk_token "<unk>" is not in model\.vocab/,
      ],
    ])('rejects %s', (_what, content, message) => {
      expect(loadError(write(content)).message).toMatch(message);
    });

    it('rejects a maxLength with no room for text', () => {
      expect(loadError(write(json()), 2).message).toMatch(/maxLength must be an integer above 2/);
    });
  });
});
