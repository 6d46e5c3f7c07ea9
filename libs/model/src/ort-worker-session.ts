import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { WireTensor, WorkerInit, WorkerReply, WorkerRequest } from './ort-session.worker';

/**
 * onnxruntime-node's session.run is synchronous underneath (the binding runs it inside a
 * setImmediate), so a run on the main thread blocks the event loop: no Kafka fetch, produce ack
 * or heartbeat is handled until it returns. The session therefore lives in a worker thread
 * (ort-session.worker.ts), and the main thread keeps doing the I/O of the next and previous
 * batches while one runs.
 */
function startWorker(init: WorkerInit): Worker {
  // The Nest build compiles the worker beside this file (the type import above puts it in the build).
  const compiled = join(__dirname, 'ort-session.worker.js');
  if (existsSync(compiled)) return new Worker(compiled, { workerData: init });
  // From sources (ts-jest, ts-node): the same file, transpiled here; typescript is a dev dependency.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- only needed when running from sources
  const ts = require('typescript') as typeof import('typescript');
  const source = readFileSync(join(__dirname, 'ort-session.worker.ts'), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  });
  return new Worker(outputText, { eval: true, workerData: init });
}

/** An onnxruntime session served by a worker thread (see @app/model's OrtSession). */
export class OrtWorkerSession {
  private nextId = 1;
  private closed?: Error;
  private readonly pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();

  private constructor(
    private readonly worker: Worker,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {
    worker.on('message', (reply: WorkerReply) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (reply.error !== undefined) waiter?.reject(new Error(reply.error));
      else waiter?.resolve(reply);
    });
    const failAll = (error: Error) => {
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => {
      this.closed ??= new Error(`onnxruntime worker exited with code ${code}`);
      failAll(this.closed);
    });
  }

  static create(modelPath: string, options: InferenceSession.SessionOptions): Promise<OrtWorkerSession> {
    const worker = startWorker({ ortPath: require.resolve('onnxruntime-node'), modelPath, options });
    return new Promise((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`onnxruntime worker exited with code ${code}`));
      worker.once('error', reject);
      worker.once('exit', onExit);
      worker.once('message', (reply: WorkerReply) => {
        worker.off('error', reject);
        worker.off('exit', onExit);
        if (reply.error !== undefined) {
          void worker.terminate();
          reject(new Error(reply.error));
        } else {
          resolve(new OrtWorkerSession(worker, reply.inputNames!, reply.outputNames!));
        }
      });
    });
  }

  async run(feeds: Record<string, Tensor>, fetches: readonly string[]): Promise<Record<string, Tensor>> {
    const wire: Record<string, WireTensor> = {};
    for (const [name, t] of Object.entries(feeds)) wire[name] = { type: t.type, data: t.data, dims: t.dims };
    // Feeds are built per run and not reused, so their buffers move to the worker without a copy.
    const transfer = [...new Set(Object.values(wire).map((t) => (t.data as ArrayBufferView).buffer as ArrayBuffer))];
    const reply = await this.request({ feeds: wire, fetches }, transfer);
    const out: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(reply.result!)) out[name] = new Tensor(t.type, t.data, t.dims);
    return out;
  }

  async release(): Promise<void> {
    if (this.closed) return;
    await this.request({ release: true }, []).catch(() => undefined);
    this.closed = new Error('the onnxruntime session was released');
    await this.worker.terminate();
  }

  private request(
    body: { release: true } | { feeds: Record<string, WireTensor>; fetches: readonly string[] },
    transfer: ArrayBuffer[],
  ): Promise<WorkerReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(this.closed);
      this.pending.set(id, { resolve, reject });
      const message: WorkerRequest = { id, ...body };
      this.worker.postMessage(message, transfer);
    });
  }
}
