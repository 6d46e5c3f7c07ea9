import type { InboundRecord, RecordKind, RecordTypes } from '@app/avro';
import type { StageConfig } from '@app/config';
import type { ModuleMetadata, Provider, Type } from '@nestjs/common';

/**
 * An app's whole part in a stage: record → output. Throwing means "this record cannot be
 * processed" and sends it to the DLQ with the error; everything else is the runtime's.
 */
export interface RecordHandler<In extends RecordKind, Out extends RecordKind> {
  readonly mode: 'record';
  handle(record: RecordTypes[In]): RecordTypes[Out];
}

/**
 * batch → outputs, for a stage that runs a model on micro-batches. `reject` names what a record
 * cannot be run with (it goes to the DLQ before batching); `run` answers one output per record, in
 * order, and a thrown error fails the batch (its records are read again).
 */
export interface BatchHandler<In extends RecordKind, Out extends RecordKind> {
  readonly mode: 'batch';
  /** Batches that may run at once (one per model session). */
  readonly concurrency: number;
  /** The cost of a record in the batch (its token count). */
  lengthOf(record: RecordTypes[In]): number;
  reject(record: RecordTypes[In]): Error | undefined;
  run(records: RecordTypes[In][]): Promise<RecordTypes[Out][]>;
}

export type StageHandler<In extends RecordKind, Out extends RecordKind> =
  RecordHandler<In, Out> | BatchHandler<In, Out>;

export interface StageOptions<In extends RecordKind, Out extends RecordKind> {
  /** The stage's name: its consumer group (after KAFKA_GROUP_ID_PREFIX) and the dlq.stage header. */
  name: string;
  input: In;
  output: Out;
  inputTopic: (config: StageConfig) => string;
  outputTopic: (config: StageConfig) => string;
  /** The last stage observes each output's createdAt → acknowledged as pipeline_end_to_end_seconds. */
  endToEnd?: boolean;
  /**
   * The last stage: an input naming a reply destination on REPLY_TOPIC (a gateway's sync /predict)
   * has its output written there too. Every stage carries the reply headers on either way.
   */
  replies?: boolean;
  /** The app's provider that implements the handler. */
  handler: Type<StageHandler<In, Out>>;
  /** What the handler itself depends on (the model, the tokenizer). */
  providers?: Provider[];
  imports?: ModuleMetadata['imports'];
}

/** A consumed record, decoded (after retries) or with the reason it could not be. */
export type Inbound<In extends RecordKind> = InboundRecord<In>;

export const STAGE_OPTIONS = Symbol('STAGE_OPTIONS');
export const STAGE_HANDLER = Symbol('STAGE_HANDLER');
