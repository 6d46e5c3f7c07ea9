import { isObject, textProblem } from '@app/common';
import { invalidInput } from '../http/api-error';

export interface TextInput {
  text: string;
  metadata: Record<string, string>;
}

function parseMetadata(value: unknown, where: string): Record<string, string> {
  if (value === undefined) return {};
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw invalidInput(`${where} must be an object of string values`);
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
export function parseSingle(body: unknown, maxTextBytes: number): TextInput {
  if (!isObject(body)) throw invalidInput('body must be a JSON object {"text": "..."}');
  return { text: checkText(body.text, 'text', maxTextBytes), metadata: parseMetadata(body.metadata, 'metadata') };
}

/** POST /v1/predict and /v1/texts body: {"texts": ["...", ...], "metadata"?: {...}}. */
export function parseMany(body: unknown, maxTextBytes: number, maxTexts: number): TextInput[] {
  if (!isObject(body)) throw invalidInput('body must be a JSON object {"texts": ["...", ...]}');
  const { texts } = body;
  if (!Array.isArray(texts)) throw invalidInput('texts must be an array of strings');
  if (texts.length === 0) throw invalidInput('texts is empty');
  if (texts.length > maxTexts)
    throw invalidInput(`texts has ${texts.length} items, over MAX_TEXTS_PER_REQUEST=${maxTexts}`);
  const metadata = parseMetadata(body.metadata, 'metadata');
  return texts.map((text, i) => ({ text: checkText(text, `texts[${i}]`, maxTextBytes), metadata }));
}
