import { hasLoneSurrogate, isObject, textProblem } from '@app/common';
import { invalidInput } from '../http/api-error';

export interface TextInput {
  text: string;
  metadata: Record<string, string>;
}

export interface MetadataLimits {
  maxEntries: number;
  maxBytes: number;
}

const DEFAULT_METADATA_LIMITS: MetadataLimits = { maxEntries: 64, maxBytes: 16_384 };

function parseMetadata(value: unknown, where: string, limits: MetadataLimits): Record<string, string> {
  if (value === undefined) return {};
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw invalidInput(`${where} must be an object of string values`);
  }
  const entries = Object.entries(value as Record<string, string>);
  if (entries.length > limits.maxEntries) {
    throw invalidInput(`${where} has ${entries.length} entries, over MAX_METADATA_ENTRIES=${limits.maxEntries}`);
  }
  let bytes = 0;
  for (const [k, v] of entries) {
    if (hasLoneSurrogate(k) || hasLoneSurrogate(v)) throw invalidInput(`${where} has a lone UTF-16 surrogate`);
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (bytes > limits.maxBytes) {
    throw invalidInput(`${where} is ${bytes} bytes, over MAX_METADATA_BYTES=${limits.maxBytes}`);
  }
  return value as Record<string, string>;
}

function checkText(text: unknown, where: string, maxTextBytes: number): string {
  if (text === undefined) throw invalidInput(`${where} is required`);
  const problem = textProblem(text, maxTextBytes);
  if (problem) throw invalidInput(problem.replace(/^text/, where));
  return text as string;
}

/** POST /predict body: {"text": "...", "metadata"?: {...}}. */
export function parseSingle(body: unknown, maxTextBytes: number, limits = DEFAULT_METADATA_LIMITS): TextInput {
  if (!isObject(body)) throw invalidInput('body must be a JSON object {"text": "..."}');
  return {
    text: checkText(body.text, 'text', maxTextBytes),
    metadata: parseMetadata(body.metadata, 'metadata', limits),
  };
}

/** POST /v1/predict and /v1/texts body: {"texts": ["...", ...], "metadata"?: {...}}. */
export function parseMany(
  body: unknown,
  maxTextBytes: number,
  maxTexts: number,
  limits = DEFAULT_METADATA_LIMITS,
): TextInput[] {
  if (!isObject(body)) throw invalidInput('body must be a JSON object {"texts": ["...", ...]}');
  const { texts } = body;
  if (!Array.isArray(texts)) throw invalidInput('texts must be an array of strings');
  if (texts.length === 0) throw invalidInput('texts is empty');
  if (texts.length > maxTexts)
    throw invalidInput(`texts has ${texts.length} items, over MAX_TEXTS_PER_REQUEST=${maxTexts}`);
  const metadata = parseMetadata(body.metadata, 'metadata', limits);
  return texts.map((text, i) => ({ text: checkText(text, `texts[${i}]`, maxTextBytes), metadata }));
}
