import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '@app/config';
import { RecordKind } from './records';

const FILES: Record<RecordKind, string> = {
  raw: 'raw.avsc',
  tokenized: 'tokenized.avsc',
  prediction: 'prediction.avsc',
};

/** The .avsc text of a record kind, read from schemas/ (the source of truth). */
export function readSchemaFile(kind: RecordKind): string {
  return readFileSync(join(projectRoot(), 'schemas', FILES[kind]), 'utf8');
}
