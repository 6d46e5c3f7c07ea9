import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { isObject } from '@app/common';
import { ModelDirError } from './model-dir.errors';

/** What the services need to know about a MODEL_DIR (README.md, "Bring your own model"). */
export interface ModelInfo {
  dir: string;
  name: string;
  version: string;
  /** Longest token sequence (special tokens included) the model is served with. */
  maxLength: number;
  /** Index → label, from config.json id2label. */
  labels: string[];
  /** Token ids must be below this: config.json vocab_size (the embedding rows), else the tokenizer's. */
  vocabSize: number;
  modelPath: string;
  tokenizerPath: string;
}

type Json = Record<string, unknown>;

/** Reads and validates a Hugging Face style model directory; throws ModelDirError. */
export function loadModelInfo(dir: string): ModelInfo {
  const root = resolve(dir);
  const modelPath = join(root, 'model.onnx');
  const tokenizerPath = join(root, 'tokenizer.json');
  const configPath = join(root, 'config.json');
  for (const file of [configPath, modelPath, tokenizerPath]) {
    if (!existsSync(file)) throw new ModelDirError(file, undefined, 'is missing');
  }
  const config = readJsonObject(configPath);
  const labels = readLabels(config, configPath);
  return {
    dir: root,
    name: nonEmptyString(config.model_name) ?? basename(root),
    // An explicit version wins; otherwise the weights' own hash, so a retrained model shows up.
    version: nonEmptyString(config.model_version) ?? fileSha256(modelPath).slice(0, 12),
    maxLength: readMaxLength(config, configPath, tokenizerPath),
    labels,
    vocabSize: readVocabSize(config, configPath, tokenizerPath),
    modelPath,
    tokenizerPath,
  };
}

function readLabels(config: Json, configPath: string): string[] {
  const id2label = config.id2label;
  if (!isObject(id2label) || Object.keys(id2label).length === 0) {
    throw new ModelDirError(configPath, 'id2label', 'is missing or empty');
  }
  const entries = Object.entries(id2label);
  const labels: string[] = new Array<string>(entries.length);
  for (const [key, label] of entries) {
    const index = /^\d+$/.test(key) ? Number(key) : NaN;
    if (!(index < entries.length)) {
      throw new ModelDirError(configPath, 'id2label', `has key "${key}"; keys must be 0..${entries.length - 1}`);
    }
    if (typeof label !== 'string' || label === '') {
      throw new ModelDirError(configPath, `id2label.${key}`, 'must be a non-empty string');
    }
    labels[index] = label;
  }
  if (new Set(labels).size !== labels.length) throw new ModelDirError(configPath, 'id2label', 'has duplicate labels');
  const label2id = config.label2id;
  if (label2id !== undefined) {
    if (!isObject(label2id)) throw new ModelDirError(configPath, 'label2id', 'must be an object');
    labels.forEach((label, index) => {
      if (label2id[label] !== index) {
        throw new ModelDirError(
          configPath,
          `label2id.${label}`,
          `is ${JSON.stringify(label2id[label])}, id2label says ${index}`,
        );
      }
    });
  }
  return labels;
}

/** config.json max_length, else tokenizer.json truncation.max_length, else max_position_embeddings. */
function readMaxLength(config: Json, configPath: string, tokenizerPath: string): number {
  const positions = config.max_position_embeddings;
  if (positions !== undefined && !isPositiveInt(positions)) {
    throw new ModelDirError(configPath, 'max_position_embeddings', 'must be a positive integer');
  }
  let maxLength: number;
  let source: string;
  if (config.max_length !== undefined) {
    if (!isPositiveInt(config.max_length))
      throw new ModelDirError(configPath, 'max_length', 'must be a positive integer');
    [maxLength, source] = [config.max_length, 'max_length'];
  } else {
    const truncation = readJsonObject(tokenizerPath).truncation;
    const fromTokenizer = isObject(truncation) ? truncation.max_length : undefined;
    if (isPositiveInt(fromTokenizer)) {
      [maxLength, source] = [fromTokenizer, 'tokenizer.json truncation.max_length'];
    } else if (isPositiveInt(positions)) {
      [maxLength, source] = [positions, 'max_position_embeddings'];
    } else {
      throw new ModelDirError(
        configPath,
        'max_length',
        'is missing (and neither tokenizer.json truncation.max_length nor max_position_embeddings is set)',
      );
    }
  }
  if (isPositiveInt(positions) && maxLength > positions) {
    throw new ModelDirError(configPath, source, `is ${maxLength}, above max_position_embeddings (${positions})`);
  }
  return maxLength;
}

function readVocabSize(config: Json, configPath: string, tokenizerPath: string): number {
  if (config.vocab_size !== undefined) {
    if (!isPositiveInt(config.vocab_size))
      throw new ModelDirError(configPath, 'vocab_size', 'must be a positive integer');
    return config.vocab_size;
  }
  const tokenizer = readJsonObject(tokenizerPath);
  const model = isObject(tokenizer.model) ? tokenizer.model : {};
  const ids = [
    ...Object.values(isObject(model.vocab) ? model.vocab : {}),
    ...(Array.isArray(tokenizer.added_tokens)
      ? tokenizer.added_tokens.map((t: unknown) => (isObject(t) ? t.id : undefined))
      : []),
  ].filter((id): id is number => typeof id === 'number' && Number.isInteger(id) && id >= 0);
  if (ids.length === 0)
    throw new ModelDirError(configPath, 'vocab_size', 'is missing (and tokenizer.json has no model.vocab)');
  return Math.max(...ids) + 1;
}

function readJsonObject(file: string): Json {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ModelDirError(file, undefined, `is not valid JSON (${(error as Error).message})`, { cause: error });
  }
  if (!isObject(json)) throw new ModelDirError(file, undefined, 'is not a JSON object');
  return json;
}

function fileSha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function nonEmptyString(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function isPositiveInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}
