import { Logger } from '@nestjs/common';
import type { GraphOptimizationLevel, InferenceDevice } from '@app/config';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { buildBatchTensors, BatchTensors } from './batch-tensors';
import { cudaProviderInstalled, ExecutionProvider, providerCandidates } from './execution-providers';
import { ModelInfo } from './model-info';

export interface ClassifierOptions {
  device: InferenceDevice;
  /** 0 lets onnxruntime choose (one thread per physical core). */
  intraOpThreads: number;
  graphOptimization: GraphOptimizationLevel;
}

export interface ClassifierOutput {
  /** One row of raw scores per input sequence, in input order; index → ModelInfo.labels. */
  logits: number[][];
  /** The length every sequence was padded to. */
  padLength: number;
}

/** What services depend on, so tests can hand them a stub instead of a real model. */
export interface SequenceClassifier {
  readonly provider: ExecutionProvider;
  readonly inputNames: string[];
  run(batch: number[][]): Promise<ClassifierOutput>;
  release(): Promise<void>;
}

/** The part of an onnxruntime InferenceSession used here. */
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, Tensor>, fetches: readonly string[]): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

export type OrtSessionFactory = (modelPath: string, options: InferenceSession.SessionOptions) => Promise<OrtSession>;

const createOrtSession: OrtSessionFactory = (modelPath, options) => InferenceSession.create(modelPath, options);

/** The inputs DESIGN.md allows a model to declare, and how each is filled. */
const FEEDS: Record<string, (t: BatchTensors) => BigInt64Array> = {
  input_ids: (t) => t.inputIds,
  attention_mask: (t) => t.attentionMask,
  token_type_ids: (t) => t.tokenTypeIds,
};

/** A BERT-family sequence classifier (model.onnx of a MODEL_DIR) run by onnxruntime-node. */
export class OnnxClassifier implements SequenceClassifier {
  readonly inputNames: string[];

  private constructor(
    readonly info: ModelInfo,
    readonly provider: ExecutionProvider,
    private readonly session: OrtSession,
  ) {
    this.inputNames = [...session.inputNames];
  }

  /**
   * Opens model.onnx on the requested device. An unavailable GPU provider is not fatal: the
   * session falls back to CPU with a warning (quietly for `auto`, where that is expected).
   */
  static async create(
    info: ModelInfo,
    options: ClassifierOptions,
    deps: { createSession?: OrtSessionFactory; logger?: Logger; cudaInstalled?: () => boolean | undefined } = {},
  ): Promise<OnnxClassifier> {
    const createSession = deps.createSession ?? createOrtSession;
    const logger = deps.logger ?? new Logger(OnnxClassifier.name);
    const cudaInstalled = deps.cudaInstalled ?? cudaProviderInstalled;
    const base: InferenceSession.SessionOptions = {
      graphOptimizationLevel: options.graphOptimization,
      ...(options.intraOpThreads > 0 ? { intraOpNumThreads: options.intraOpThreads } : {}),
    };
    const tried: string[] = [];
    for (const provider of providerCandidates(options.device)) {
      // On a CPU host `auto` is the normal case: skip a CUDA attempt that cannot work, quietly.
      if (provider === 'cuda' && options.device === 'auto' && cudaInstalled() === false) {
        tried.push('cuda (provider library not installed)');
        continue;
      }
      let session: OrtSession;
      try {
        session = await createSession(info.modelPath, { ...base, executionProviders: [provider] });
      } catch (error) {
        if (provider === 'cpu') throw new Error(`cannot load ${info.modelPath}: ${firstLine(error)}`, { cause: error });
        const reason = firstLine(error);
        tried.push(`${provider} (${reason})`);
        const message = `INFERENCE_DEVICE=${options.device}: the ${provider} execution provider is unavailable (${reason}); falling back`;
        if (options.device === 'auto') logger.log(message);
        else logger.warn(message);
        continue;
      }
      const classifier = new OnnxClassifier(info, provider, session);
      try {
        classifier.checkSignature();
      } catch (error) {
        await session.release();
        throw error;
      }
      logger.log(
        `model ${info.name}@${info.version} on onnxruntime ${provider} provider` +
          ` (INFERENCE_DEVICE=${options.device}${tried.length ? `, unavailable: ${tried.join(', ')}` : ''};` +
          ` intra-op threads ${options.intraOpThreads || 'auto'}; inputs ${classifier.inputNames.join(', ')})`,
      );
      return classifier;
    }
    throw new Error('unreachable: cpu is always the last candidate');
  }

  /** Pads the batch to its longest sequence and runs it in one session.run. */
  async run(batch: number[][]): Promise<ClassifierOutput> {
    const tensors = buildBatchTensors(batch);
    const dims = [tensors.batchSize, tensors.padLength];
    const feeds: Record<string, Tensor> = {};
    for (const name of this.inputNames) feeds[name] = new Tensor('int64', FEEDS[name](tensors), dims);
    const output = (await this.session.run(feeds, ['logits'])).logits;
    const [rows, width] = output.dims;
    if (output.dims.length !== 2 || rows !== batch.length || width !== this.info.labels.length) {
      throw new Error(
        `model ${this.info.name} returned logits of shape [${output.dims.join(', ')}], expected [${batch.length}, ${this.info.labels.length}]`,
      );
    }
    const data = output.data as Float32Array;
    const logits: number[][] = [];
    for (let r = 0; r < rows; r++) logits.push(Array.from(data.subarray(r * width, (r + 1) * width)));
    return { logits, padLength: tensors.padLength };
  }

  async release(): Promise<void> {
    await this.session.release();
  }

  private checkSignature(): void {
    const unknown = this.inputNames.filter((name) => !Object.hasOwn(FEEDS, name));
    if (unknown.length > 0 || !this.inputNames.includes('input_ids')) {
      throw new Error(
        `${this.info.modelPath} declares inputs [${this.inputNames.join(', ')}]; expected input_ids plus optionally attention_mask, token_type_ids`,
      );
    }
    if (!this.session.outputNames.includes('logits')) {
      throw new Error(`${this.info.modelPath} has outputs [${this.session.outputNames.join(', ')}]; expected "logits"`);
    }
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].trim();
}
