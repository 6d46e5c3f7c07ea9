// The code of an OrtWorkerSession's thread: one onnxruntime session, answering run requests.
// Loaded by path (see ort-worker-session.ts), never imported for its values by the main thread.
import { MessagePort, parentPort, workerData } from 'node:worker_threads';
import type { InferenceSession, Tensor } from 'onnxruntime-node';

/** A tensor as it crosses the thread boundary (its data buffer is transferred, not copied). */
export interface WireTensor {
  type: Tensor.Type;
  data: Tensor.DataType;
  dims: readonly number[];
}

export interface WorkerInit {
  /** The onnxruntime-node the main thread resolved, so both threads load the same binding. */
  ortPath: string;
  modelPath: string;
  options: InferenceSession.SessionOptions;
}

export type WorkerRequest =
  | { id: number; release: true }
  | { id: number; release?: undefined; feeds: Record<string, WireTensor>; fetches: readonly string[] };

/** id 0 answers the session's creation (with its input and output names). */
export interface WorkerReply {
  id: number;
  error?: string;
  inputNames?: string[];
  outputNames?: string[];
  result?: Record<string, WireTensor>;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function serve(port: MessagePort, init: WorkerInit): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a path known only at run time
  const ort = require(init.ortPath) as typeof import('onnxruntime-node');
  const reply = (message: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
  const created = ort.InferenceSession.create(init.modelPath, init.options);
  created.then(
    (session) => reply({ id: 0, inputNames: [...session.inputNames], outputNames: [...session.outputNames] }),
    (error: unknown) => reply({ id: 0, error: messageOf(error) }),
  );

  const handle = async (request: WorkerRequest): Promise<void> => {
    const session = await created;
    if (request.release) {
      await session.release().catch(() => undefined);
      reply({ id: request.id });
      return;
    }
    const feeds: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(request.feeds)) {
      feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
    }
    const out = await session.run(feeds, request.fetches);
    const result: Record<string, WireTensor> = {};
    const transfer: ArrayBuffer[] = [];
    for (const [name, t] of Object.entries(out)) {
      result[name] = { type: t.type, data: t.data, dims: t.dims };
      transfer.push((t.data as ArrayBufferView).buffer as ArrayBuffer);
    }
    reply({ id: request.id, result }, transfer);
  };

  port.on('message', (request: WorkerRequest) => {
    handle(request).catch((error: unknown) => reply({ id: request.id, error: messageOf(error) }));
  });
}

if (parentPort) serve(parentPort, workerData as WorkerInit);
