import { availableParallelism } from 'node:os';
import { Logger } from '@nestjs/common';
import type { GraphOptimizationLevel, InferenceDevice } from '@app/config';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { buildBatchTensors, BatchTensors } from './batch-tensors';
import { cudaProviderInstalled, ExecutionProvider, providerCandidates } from './execution-providers';
import { ModelInfo } from './model-info';
import { OrtWorkerSession } from './ort-worker-session';

export interface ClassifierOptions {
  device: InferenceDevice;
  /** 0 lets onnxruntime choose (one thread per physical core). */
  intraOpThreads: number;
  graphOptimization: GraphOptimizationLevel;
  /** onnxruntime's session.intra_op.allow_spinning; its default (true) when absent. */
  allowSpinning?: boolean;
  /** Sessions that run batches side by side; 0 or absent: 2 on a multi-core CPU, else 1. */
  sessions?: number;
  /**
   * On a CPU split between several sessions: one more session with all their threads, which runs a
   * batch only while every other session is idle. A lone record then runs on every core (light load)
   * instead of on one session's share; under load the split sessions do the work as before.
   */
  latencySession?: boolean;
}

/**
 * How a CPU is shared between sessions. Two single-purpose sessions beat one session with all
 * the threads on a host that also runs Kafka clients: a parallel operator waits for its slowest
 * thread, so every preemption of one intra-op thread stalls the whole run, while two sessions
 * each on its share of the cores keep going independently (measured: see bench/README.md).
 */
export function cpuPlan(cores: number, sessions = 0, intraOpThreads = 0): { sessions: number; intraOpThreads: number } {
  const n = sessions > 0 ? sessions : cores >= 2 ? 2 : 1;
  // 0 threads keeps onnxruntime's own choice, which only fits when one session has the machine.
  const threads = intraOpThreads > 0 || n === 1 ? intraOpThreads : Math.max(1, Math.floor(cores / n));
  return { sessions: n, intraOpThreads: threads };
}

/** Threads of the latency session (ClassifierOptions.latencySession) for a CPU plan: all of them, or 0 for none. */
export function latencySessionThreads(plan: { sessions: number; intraOpThreads: number }, enabled: boolean): number {
  const all = plan.sessions * plan.intraOpThreads;
  return enabled && plan.sessions > 1 && all > 1 ? all : 0;
}

export interface ClassifierOutput {
  /** One row of raw scores per input sequence, in input order; index → ModelInfo.labels. */
  logits: number[][];
  /** The length every sequence was padded to. */
  padLength: number;
}

/** The part of an onnxruntime InferenceSession used here. */
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, Tensor>, fetches: readonly string[]): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

export type OrtSessionFactory = (modelPath: string, options: InferenceSession.SessionOptions) => Promise<OrtSession>;

// A worker thread, because a run on the main thread would block the service's Kafka I/O (see OrtWorkerSession).
const createOrtSession: OrtSessionFactory = (modelPath, options) => OrtWorkerSession.create(modelPath, options);

/** How long every split session must have been idle before a batch goes to the latency session. */
const LATENCY_AFTER_IDLE_MS = 100;

/** The inputs a model may declare (README.md, "Bring your own model"), and how each is filled. */
const FEEDS: Record<string, (t: BatchTensors) => BigInt64Array> = {
  input_ids: (t) => t.inputIds,
  attention_mask: (t) => t.attentionMask,
  token_type_ids: (t) => t.tokenTypeIds,
};

/** A BERT-family sequence classifier (model.onnx of a MODEL_DIR) run by onnxruntime-node. */
export class OnnxClassifier {
  readonly inputNames: string[];
  private readonly idle: OrtSession[];
  private waiting: ((session: OrtSession) => void)[] = [];
  private latencyIdle: boolean;
  /** When a split session last finished a run (or was last taken, while one is running). */
  private lastSplitRun = Number.NEGATIVE_INFINITY;

  private constructor(
    readonly info: ModelInfo,
    readonly provider: ExecutionProvider,
    private readonly sessions: OrtSession[],
    private readonly latency?: OrtSession,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.inputNames = [...sessions[0].inputNames];
    this.idle = [...sessions];
    this.latencyIdle = latency !== undefined;
  }

  get concurrency(): number {
    return this.sessions.length;
  }

  /**
   * Opens model.onnx on the requested device. An unavailable GPU provider is not fatal: the
   * session falls back to CPU with a warning (quietly for `auto`, where that is expected).
   */
  static async create(
    info: ModelInfo,
    options: ClassifierOptions,
    deps: {
      createSession?: OrtSessionFactory;
      logger?: Logger;
      cudaInstalled?: () => boolean | undefined;
      cores?: number;
      now?: () => number;
    } = {},
  ): Promise<OnnxClassifier> {
    const createSession = deps.createSession ?? createOrtSession;
    const logger = deps.logger ?? new Logger(OnnxClassifier.name);
    const cudaInstalled = deps.cudaInstalled ?? cudaProviderInstalled;
    const cores = deps.cores ?? availableParallelism();
    const base: InferenceSession.SessionOptions = {
      graphOptimizationLevel: options.graphOptimization,
      ...(options.intraOpThreads > 0 ? { intraOpNumThreads: options.intraOpThreads } : {}),
      // Spinning threads answer the next run sooner but burn CPU the rest of a shared host needs.
      ...(options.allowSpinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
    };
    const tried: string[] = [];
    for (const provider of providerCandidates(options.device)) {
      // On a CPU host `auto` is the normal case: skip a CUDA attempt that cannot work, quietly.
      if (provider === 'cuda' && options.device === 'auto' && cudaInstalled() === false) {
        tried.push('cuda (no CUDA provider library or NVIDIA driver)');
        continue;
      }
      // On the CPU the cores are split between sessions; a GPU gets one session unless told otherwise.
      const plan =
        provider === 'cpu'
          ? cpuPlan(cores, options.sessions, options.intraOpThreads)
          : { sessions: Math.max(1, options.sessions ?? 1), intraOpThreads: options.intraOpThreads };
      const sessionOptions: InferenceSession.SessionOptions = {
        ...base,
        ...(plan.intraOpThreads > 0 ? { intraOpNumThreads: plan.intraOpThreads } : {}),
        executionProviders: [provider],
      };
      let session: OrtSession;
      try {
        session = await createSession(info.modelPath, sessionOptions);
      } catch (error) {
        if (provider === 'cpu') throw new Error(`cannot load ${info.modelPath}: ${firstLine(error)}`, { cause: error });
        const reason = firstLine(error);
        tried.push(`${provider} (${reason})`);
        const message = `INFERENCE_DEVICE=${options.device}: the ${provider} execution provider is unavailable (${reason}); falling back`;
        if (options.device === 'auto') logger.log(message);
        else logger.warn(message);
        continue;
      }
      const sessions = [session];
      const latencyThreads = provider === 'cpu' ? latencySessionThreads(plan, options.latencySession === true) : 0;
      const withLatency = latencyThreads > 0;
      try {
        checkSignature(info, session);
        while (sessions.length < plan.sessions) sessions.push(await createSession(info.modelPath, sessionOptions));
        if (withLatency)
          sessions.push(await createSession(info.modelPath, { ...sessionOptions, intraOpNumThreads: latencyThreads }));
      } catch (error) {
        await Promise.all(sessions.map((s) => s.release()));
        throw error;
      }
      const latency = withLatency ? sessions.pop() : undefined;
      const classifier = new OnnxClassifier(info, provider, sessions, latency, deps.now);
      logger.log(
        `model ${info.name}@${info.version} on onnxruntime ${provider} provider` +
          ` (INFERENCE_DEVICE=${options.device}${tried.length ? `, unavailable: ${tried.join(', ')}` : ''};` +
          ` ${plan.sessions} session(s) × ${plan.intraOpThreads || 'auto'} intra-op thread(s)${withLatency ? ` + 1 latency session × ${latencyThreads}` : ''}${options.allowSpinning === false ? ', no spinning' : ''}; inputs ${classifier.inputNames.join(', ')})`,
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
    const session = await this.acquire();
    let output: Tensor;
    try {
      output = (await session.run(feeds, ['logits'])).logits;
    } finally {
      this.giveBack(session);
    }
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
    await Promise.all([...this.sessions, ...(this.latency ? [this.latency] : [])].map((s) => s.release()));
  }

  private acquire(): Promise<OrtSession> {
    // Every split session idle for a while: the stream is light, so this batch may have all the cores.
    // Under load it would take a core a split session is about to need, and its threads' spinning
    // would take more (bench/README.md, the runs of 2026-12-05).
    const now = this.now();
    if (
      this.latencyIdle &&
      this.idle.length === this.sessions.length &&
      now - this.lastSplitRun >= LATENCY_AFTER_IDLE_MS
    ) {
      this.latencyIdle = false;
      return Promise.resolve(this.latency!);
    }
    this.lastSplitRun = now;
    const session = this.idle.pop();
    return session ? Promise.resolve(session) : new Promise((resolve) => this.waiting.push(resolve));
  }

  private giveBack(session: OrtSession): void {
    if (session === this.latency) {
      this.latencyIdle = true;
      return;
    }
    this.lastSplitRun = this.now();
    const next = this.waiting.shift();
    if (next) next(session);
    else this.idle.push(session);
  }
}

/** The model must take input_ids (plus optionally attention_mask, token_type_ids) and give logits. */
function checkSignature(info: ModelInfo, session: OrtSession): void {
  const inputs = session.inputNames;
  if (inputs.some((name) => !Object.hasOwn(FEEDS, name)) || !inputs.includes('input_ids')) {
    throw new Error(
      `${info.modelPath} declares inputs [${inputs.join(', ')}]; expected input_ids plus optionally attention_mask, token_type_ids`,
    );
  }
  if (!session.outputNames.includes('logits')) {
    throw new Error(`${info.modelPath} has outputs [${session.outputNames.join(', ')}]; expected "logits"`);
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].trim();
}
