import { Worker } from 'node:worker_threads';
import { InferenceSession, Tensor } from 'onnxruntime-node';

/**
 * onnxruntime-node's session.run is synchronous underneath (the binding runs it inside a
 * setImmediate), so a run on the main thread blocks the event loop: no Kafka fetch, produce ack
 * or heartbeat is handled until it returns. The session therefore lives in a worker thread, and
 * the main thread keeps doing the I/O of the next and previous batches while one runs.
 *
 * The worker is plain CommonJS given as a string, so the same code runs from the Nest build,
 * ts-node (bench) and ts-jest; it loads the exact onnxruntime-node the main thread resolved.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
let session;
const fail = (id, error) => parentPort.postMessage({ id, error: error && error.message ? error.message : String(error) });
ort.InferenceSession.create(workerData.modelPath, workerData.options).then(
  (s) => {
    session = s;
    parentPort.postMessage({ id: 0, inputNames: s.inputNames, outputNames: s.outputNames });
  },
  (error) => fail(0, error),
);
parentPort.on('message', async (m) => {
  if (m.release) {
    await session.release().catch(() => undefined);
    parentPort.postMessage({ id: m.id });
    return;
  }
  try {
    const feeds = {};
    for (const [name, t] of Object.entries(m.feeds)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
    const out = await session.run(feeds, m.fetches);
    const result = {};
    const transfer = [];
    for (const [name, t] of Object.entries(out)) {
      result[name] = { type: t.type, data: t.data, dims: t.dims };
      transfer.push(t.data.buffer);
    }
    parentPort.postMessage({ id: m.id, result }, transfer);
  } catch (error) {
    fail(m.id, error);
  }
});
`;

interface WireTensor {
  type: Tensor.Type;
  data: Tensor.DataType;
  dims: readonly number[];
}

interface Reply {
  id: number;
  error?: string;
  inputNames?: string[];
  outputNames?: string[];
  result?: Record<string, WireTensor>;
}

/** An onnxruntime session served by a worker thread (see @app/model's OrtSession). */
export class OrtWorkerSession {
  private nextId = 1;
  private closed?: Error;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

  private constructor(
    private readonly worker: Worker,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {
    worker.on('message', (reply: Reply) => {
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
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ortPath: require.resolve('onnxruntime-node'), modelPath, options },
    });
    return new Promise((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`onnxruntime worker exited with code ${code}`));
      worker.once('error', reject);
      worker.once('exit', onExit);
      worker.once('message', (reply: Reply) => {
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
    for (const [name, t] of Object.entries(reply.result!))
      out[name] = new Tensor(t.type, t.data as Tensor.DataTypeMap[Tensor.Type], t.dims);
    return out;
  }

  async release(): Promise<void> {
    if (this.closed) return;
    await this.request({ release: true }, []).catch(() => undefined);
    this.closed = new Error('the onnxruntime session was released');
    await this.worker.terminate();
  }

  private request(body: object, transfer: ArrayBuffer[]): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(this.closed);
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...body }, transfer);
    });
  }
}
