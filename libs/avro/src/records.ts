// TypeScript views of schemas/*.avsc (the .avsc files are the source of truth).
// timestamp-millis fields travel as epoch milliseconds (number).

export interface RawText {
  id: string;
  text: string;
  createdAt: number;
  source: string | null;
  metadata: Record<string, string>;
}

export interface TokenizedText {
  id: string;
  inputIds: number[];
  tokenCount: number;
  truncated: boolean;
  tokenizer: string;
  createdAt: number;
  tokenizedAt: number;
  source: string | null;
  metadata: Record<string, string>;
}

export interface Prediction {
  id: string;
  label: string;
  score: number;
  scores: Record<string, number>;
  model: string;
  modelVersion: string;
  createdAt: number;
  tokenizedAt: number;
  predictedAt: number;
  batchSize: number;
  truncated: boolean;
  source: string | null;
  metadata: Record<string, string>;
}

/** The three record kinds and their schema files. */
export interface RecordTypes {
  raw: RawText;
  tokenized: TokenizedText;
  prediction: Prediction;
}
export type RecordKind = keyof RecordTypes;
export const RECORD_KINDS: readonly RecordKind[] = ['raw', 'tokenized', 'prediction'];
