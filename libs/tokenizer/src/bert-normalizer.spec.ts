import { BertNormalizer } from './bert-normalizer';
import { bertPreTokenize } from './bert-pre-tokenizer';

// Expected values are HF tokenizers' (Python package 0.23.3) own outputs for the same input.
describe('BertNormalizer (lowercase, strip accents, clean text, CJK)', () => {
  const normalizer = new BertNormalizer({
    cleanText: true,
    handleChineseChars: true,
    stripAccents: true,
    lowercase: true,
  });

  it.each([
    ['Café\u200b\u00a0NAÏVE\t中文', 'cafe naive  中  文 '],
    // Rust lowercases char by char: no final sigma.
    ['ΣΑΣ ΟΔΟΣ', 'σασ οδοσ'],
    // Accents are stripped before lowercasing, so İ loses its dot.
    ['\u0130stanbul', 'istanbul'],
    // A mark newer than the crate's Unicode tables is not a mark to it: kept.
    ['a\u0897b', 'a\u0897b'],
    // Decomposable in Node's Unicode, not in the crate's: left whole.
    ['\u{105c9}', '\u{105c9}'],
    // A lone surrogate is what UTF-8 would carry as U+FFFD, which clean_text drops.
    ['a\uD800b', 'ab'],
  ])('normalizes %j like HF', (input, expected) => {
    expect(normalizer.normalize(input)).toBe(expected);
  });

  it('leaves case and accents alone when told to', () => {
    const keep = new BertNormalizer({
      cleanText: true,
      handleChineseChars: false,
      stripAccents: false,
      lowercase: false,
    });
    expect(keep.normalize('Café\u0000中')).toBe('Café中');
  });
});

describe('bertPreTokenize', () => {
  it.each([
    ['a$b', ['a', '$', 'b']],
    ['a\u00a0b\u3000c', ['a', 'b', 'c']],
    // Punctuation by the crate's tables: U+166D still is, U+061D (newer) is not.
    ['a\u166da', ['a', '\u166d', 'a']],
    ['a\u061da', ['a\u061da']],
    ["don't stop...", ['don', "'", 't', 'stop', '.', '.', '.']],
  ])('splits %j like HF', (input, expected) => {
    expect(bertPreTokenize(input)).toEqual(expected);
  });
});
