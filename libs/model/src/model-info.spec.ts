import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ModelDirError } from './model-dir.errors';
import { loadModelInfo } from './model-info';

describe('loadModelInfo', () => {
  let dir: string;

  const write = (files: Record<string, unknown>) => {
    for (const [name, content] of Object.entries(files)) {
      writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
    }
  };
  const config = (extra: Record<string, unknown> = {}) => ({
    id2label: { '0': 'ham', '1': 'spam' },
    label2id: { ham: 0, spam: 1 },
    max_position_embeddings: 512,
    max_length: 128,
    vocab_size: 30522,
    ...extra,
  });
  const error = (): ModelDirError => {
    try {
      loadModelInfo(dir);
    } catch (e) {
      expect(e).toBeInstanceOf(ModelDirError);
      return e as ModelDirError;
    }
    throw new Error('loadModelInfo did not throw');
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'model-info-'));
    write({
      'model.onnx': 'not really onnx',
      'tokenizer.json': { truncation: { max_length: 64 } },
      'config.json': config(),
    });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads labels, max length and paths; name is the folder, version a hash of model.onnx', () => {
    const info = loadModelInfo(dir);
    expect(info).toEqual({
      dir,
      name: basename(dir),
      version: createHash('sha256').update('not really onnx').digest('hex').slice(0, 12),
      maxLength: 128,
      labels: ['ham', 'spam'],
      vocabSize: 30522,
      modelPath: join(dir, 'model.onnx'),
      tokenizerPath: join(dir, 'tokenizer.json'),
    });
    write({ 'model.onnx': 'other weights' });
    expect(loadModelInfo(dir).version).not.toBe(info.version);
  });

  it('prefers model_name and model_version from config.json', () => {
    write({ 'config.json': config({ model_name: 'spam-filter', model_version: '2024.1' }) });
    expect(loadModelInfo(dir)).toMatchObject({ name: 'spam-filter', version: '2024.1' });
  });

  it('orders labels by id, whatever the key order', () => {
    write({ 'config.json': config({ id2label: { '2': 'c', '0': 'a', '1': 'b' }, label2id: undefined }) });
    expect(loadModelInfo(dir).labels).toEqual(['a', 'b', 'c']);
  });

  it('takes the vocabulary size from tokenizer.json when config.json has none', () => {
    write({
      'config.json': config({ vocab_size: undefined }),
      'tokenizer.json': { model: { vocab: { '[PAD]': 0, a: 1, b: 2 } }, added_tokens: [{ id: 5, content: '<x>' }] },
    });
    expect(loadModelInfo(dir).vocabSize).toBe(6);
  });

  it('falls back to tokenizer.json truncation, then max_position_embeddings', () => {
    write({ 'config.json': config({ max_length: undefined }) });
    expect(loadModelInfo(dir).maxLength).toBe(64);
    write({ 'tokenizer.json': { truncation: null } });
    expect(loadModelInfo(dir).maxLength).toBe(512);
  });

  it.each(['model.onnx', 'tokenizer.json', 'config.json'])('names a missing %s', (file) => {
    rmSync(join(dir, file));
    const e = error();
    expect(e.file).toBe(join(dir, file));
    expect(e.message).toContain(`${file} is missing`);
  });

  it.each([
    ['no id2label', { id2label: undefined }, 'id2label', /is missing or empty/],
    [
      'a gap in id2label',
      { id2label: { '0': 'ham', '2': 'spam' }, label2id: undefined },
      'id2label',
      /keys must be 0..1/,
    ],
    ['a non-string label', { id2label: { '0': 'ham', '1': 7 }, label2id: undefined }, 'id2label.1', /non-empty string/],
    ['duplicate labels', { id2label: { '0': 'x', '1': 'x' }, label2id: undefined }, 'id2label', /duplicate/],
    ['label2id disagreeing', { label2id: { ham: 1, spam: 0 } }, 'label2id.ham', /id2label says 0/],
    ['a bad max_length', { max_length: '128' }, 'max_length', /positive integer/],
    ['a bad vocab_size', { vocab_size: 0 }, 'vocab_size', /positive integer/],
    ['max_length above the encoder limit', { max_length: 1024 }, 'max_length', /above max_position_embeddings \(512\)/],
  ])('rejects %s, naming config.json and the field', (_what, extra, field, message) => {
    write({ 'config.json': config(extra) });
    const e = error();
    expect(e.file).toBe(join(dir, 'config.json'));
    expect(e.field).toBe(field);
    expect(e.message).toMatch(message);
  });

  it('names a config.json that is not JSON', () => {
    write({ 'config.json': '{ nope' });
    expect(error().message).toMatch(/config\.json is not valid JSON/);
  });
});
