import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { Tensor } from 'onnxruntime-node';
import { cudaProviderInstalled } from './execution-providers';
import { ModelInfo } from './model-info';
import { ClassifierOptions, cpuPlan, OnnxClassifier, OrtSession, OrtSessionFactory } from './onnx-classifier';

// Tiny graphs whose "logits" are [sum(ids * mask), sum(mask)(, sum(token types))] per row: they show
// exactly what the session was fed (libs/model/test-models/make_test_models.py).
const MODELS = join(__dirname, '..', 'test-models');

function info(file: string, labels = ['a', 'b', 'c']): ModelInfo {
  return {
    dir: MODELS,
    name: 'sums',
    version: 'test',
    maxLength: 16,
    labels,
    vocabSize: 1000,
    modelPath: join(MODELS, file),
    tokenizerPath: '',
  };
}

const cpu: ClassifierOptions = { device: 'cpu', intraOpThreads: 1, graphOptimization: 'all', sessions: 1 };

function quietLogger(): Logger {
  const logger = new Logger('test');
  jest.spyOn(logger, 'log').mockImplementation(() => undefined);
  jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  return logger;
}

describe('OnnxClassifier (real onnxruntime-node)', () => {
  it('pads to the longest sequence, masks the pads and feeds zero token types', async () => {
    const classifier = await OnnxClassifier.create(info('sums-3-inputs.onnx'), cpu, { logger: quietLogger() });
    expect(classifier.provider).toBe('cpu');
    expect(classifier.inputNames).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
    const out = await classifier.run([
      [101, 7, 102],
      [101, 102],
      [101, 5, 6, 9, 102],
    ]);
    expect(out.padLength).toBe(5);
    expect(out.logits).toEqual([
      [210, 3, 0],
      [203, 2, 0],
      [223, 5, 0],
    ]);
    await classifier.release();
  });

  it('feeds only the inputs the model declares', async () => {
    const classifier = await OnnxClassifier.create(info('sums-2-inputs.onnx', ['a', 'b']), cpu, {
      logger: quietLogger(),
    });
    expect(classifier.inputNames).toEqual(['input_ids', 'attention_mask']);
    expect((await classifier.run([[1, 2], [3]])).logits).toEqual([
      [3, 2],
      [3, 1],
    ]);
    await classifier.release();
  });

  it('rejects logits that do not match the labels of config.json', async () => {
    const classifier = await OnnxClassifier.create(info('sums-3-inputs.onnx', ['ham', 'spam']), cpu, {
      logger: quietLogger(),
    });
    await expect(classifier.run([[1]])).rejects.toThrow(/logits of shape \[1, 3\], expected \[1, 2\]/);
    await classifier.release();
  });

  (cudaProviderInstalled() ? it.skip : it)(
    'falls back to CPU with a warning when CUDA is requested but absent',
    async () => {
      const logger = quietLogger();
      const classifier = await OnnxClassifier.create(
        info('sums-3-inputs.onnx'),
        { ...cpu, device: 'cuda' },
        { logger },
      );
      expect(classifier.provider).toBe('cpu');
      expect(logger.warn).toHaveBeenCalledWith(
        expect.stringMatching(/INFERENCE_DEVICE=cuda: the cuda execution provider is unavailable \(.+\); falling back/),
      );
      expect(logger.log).toHaveBeenCalledWith(expect.stringMatching(/on onnxruntime cpu provider .*unavailable: cuda/));
      expect((await classifier.run([[4]])).logits).toEqual([[4, 1, 0]]);
      await classifier.release();
    },
  );

  it('falls back to CPU with a warning when WebGPU has no adapter', async () => {
    const logger = quietLogger();
    const classifier = await OnnxClassifier.create(
      info('sums-3-inputs.onnx'),
      { ...cpu, device: 'webgpu' },
      { logger },
    );
    // A host with a GPU and Vulkan may really get WebGPU; a headless CPU box must not.
    if (classifier.provider === 'cpu') {
      expect(logger.warn).toHaveBeenCalledWith(
        expect.stringMatching(/INFERENCE_DEVICE=webgpu: the webgpu execution provider is unavailable/),
      );
    } else {
      expect(classifier.provider).toBe('webgpu');
      expect(logger.warn).not.toHaveBeenCalled();
    }
    await classifier.release();
  });

  it('names the model file it cannot load', async () => {
    await expect(OnnxClassifier.create(info('missing.onnx'), cpu, { logger: quietLogger() })).rejects.toThrow(
      /cannot load .*missing\.onnx/,
    );
  });
});

describe('OnnxClassifier (stubbed session)', () => {
  function stubSession(inputNames: string[], outputNames = ['logits']) {
    const run = jest.fn(async (feeds: Record<string, Tensor>, _fetches: readonly string[]) => {
      const rows = feeds.input_ids.dims[0];
      return { logits: new Tensor('float32', new Float32Array(rows * 2).fill(0.5), [rows, 2]) };
    });
    const release = jest.fn(async () => undefined);
    const session: OrtSession = { inputNames, outputNames, run, release };
    return { session, run, release };
  }

  function factory(available: string[], session: OrtSession) {
    return jest.fn<ReturnType<OrtSessionFactory>, Parameters<OrtSessionFactory>>(async (_path, options) => {
      const first = options.executionProviders?.[0];
      const provider = typeof first === 'string' ? first : String(first?.name);
      if (!available.includes(provider)) throw new Error(`${provider} provider missing\nstack…`);
      return session;
    });
  }

  /** Sessions whose runs wait for their gate to open; each answers logits filled with its creation index. */
  function gatedSessions() {
    const gates: (() => void)[] = [];
    let made = 0;
    const createSession = jest.fn<ReturnType<OrtSessionFactory>, Parameters<OrtSessionFactory>>(async () => {
      const index = made++;
      return {
        inputNames: ['input_ids'],
        outputNames: ['logits'],
        release: async () => undefined,
        run: async (feeds) => {
          await new Promise<void>((resolve) => gates.push(resolve));
          const rows = feeds.input_ids.dims[0];
          return { logits: new Tensor('float32', new Float32Array(rows * 2).fill(index), [rows, 2]) };
        },
      };
    });
    return { gates, createSession };
  }

  it('auto takes CUDA when it loads, without warnings', async () => {
    const { session } = stubSession(['input_ids']);
    const logger = quietLogger();
    const createSession = factory(['cuda', 'cpu'], session);
    const classifier = await OnnxClassifier.create(
      info('x.onnx', ['a', 'b']),
      { ...cpu, device: 'auto' },
      { createSession, logger, cudaInstalled: () => true },
    );
    expect(classifier.provider).toBe('cuda');
    expect(logger.warn).not.toHaveBeenCalled();
  });

  it('auto goes to CPU without a warning (expected on CPU hosts) and never tries WebGPU', async () => {
    const { session } = stubSession(['input_ids']);
    const logger = quietLogger();
    const createSession = factory(['cpu', 'webgpu'], session);
    const classifier = await OnnxClassifier.create(
      info('x.onnx', ['a', 'b']),
      { ...cpu, device: 'auto' },
      { createSession, logger, cudaInstalled: () => undefined },
    );
    expect(classifier.provider).toBe('cpu');
    expect(createSession.mock.calls.map(([, o]) => o.executionProviders)).toEqual([['cuda'], ['cpu']]);
    expect(logger.warn).not.toHaveBeenCalled();
    expect(logger.log).toHaveBeenCalledWith(
      expect.stringContaining('cuda execution provider is unavailable (cuda provider missing)'),
    );
  });

  it('auto does not even try CUDA when its provider library is not installed', async () => {
    const { session } = stubSession(['input_ids']);
    const logger = quietLogger();
    const createSession = factory(['cpu'], session);
    const classifier = await OnnxClassifier.create(
      info('x.onnx', ['a', 'b']),
      { ...cpu, device: 'auto' },
      { createSession, logger, cudaInstalled: () => false },
    );
    expect(classifier.provider).toBe('cpu');
    expect(createSession.mock.calls.map(([, o]) => o.executionProviders)).toEqual([['cpu']]);
    expect(logger.log).toHaveBeenCalledWith(
      expect.stringContaining('unavailable: cuda (no CUDA provider library or NVIDIA driver)'),
    );
  });

  it('turns off intra-op spinning through a session config entry when asked', async () => {
    const { session } = stubSession(['input_ids']);
    const createSession = factory(['cpu'], session);
    await OnnxClassifier.create(
      info('x.onnx', ['a', 'b']),
      { device: 'cpu', intraOpThreads: 0, graphOptimization: 'all', allowSpinning: false, sessions: 1 },
      { createSession, logger: quietLogger() },
    );
    expect(createSession.mock.calls[0][1]).toEqual({
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
  });

  it('passes threads and graph optimization to onnxruntime (0 threads = its default)', async () => {
    const { session } = stubSession(['input_ids']);
    const createSession = factory(['cpu'], session);
    await OnnxClassifier.create(
      info('x.onnx', ['a', 'b']),
      { device: 'cpu', intraOpThreads: 2, graphOptimization: 'basic', sessions: 1 },
      { createSession, logger: quietLogger() },
    );
    await OnnxClassifier.create(
      info('x.onnx', ['a', 'b']),
      { device: 'cpu', intraOpThreads: 0, graphOptimization: 'all', sessions: 1 },
      { createSession, logger: quietLogger() },
    );
    expect(createSession.mock.calls[0][1]).toEqual({
      executionProviders: ['cpu'],
      intraOpNumThreads: 2,
      graphOptimizationLevel: 'basic',
    });
    expect(createSession.mock.calls[1][1]).toEqual({ executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
  });

  it('runs one session.run per batch with int64 [batch, padLength] feeds', async () => {
    const { session, run } = stubSession(['input_ids', 'token_type_ids']);
    const classifier = await OnnxClassifier.create(info('x.onnx', ['a', 'b']), cpu, {
      createSession: factory(['cpu'], session),
      logger: quietLogger(),
    });
    const out = await classifier.run([[1, 2, 3], [4]]);
    expect(run).toHaveBeenCalledTimes(1);
    const feeds = run.mock.calls[0][0];
    expect(Object.keys(feeds)).toEqual(['input_ids', 'token_type_ids']);
    expect(run.mock.calls[0][1]).toEqual(['logits']);
    expect(feeds.input_ids.type).toBe('int64');
    expect(feeds.input_ids.dims).toEqual([2, 3]);
    expect(out).toEqual({
      logits: [
        [0.5, 0.5],
        [0.5, 0.5],
      ],
      padLength: 3,
    });
  });

  it.each([
    [['input_ids', 'pixel_values'], ['logits'], /declares inputs \[input_ids, pixel_values\]/],
    [['attention_mask'], ['logits'], /declares inputs \[attention_mask\]/],
    [['input_ids', 'constructor'], ['logits'], /declares inputs \[input_ids, constructor\]/],
    [['input_ids'], ['last_hidden_state'], /has outputs \[last_hidden_state\]; expected "logits"/],
  ])('rejects a model with inputs %j and outputs %j, releasing its session', async (inputs, outputs, message) => {
    const { session, release } = stubSession(inputs, outputs);
    await expect(
      OnnxClassifier.create(info('x.onnx'), cpu, { createSession: factory(['cpu'], session), logger: quietLogger() }),
    ).rejects.toThrow(message);
    expect(release).toHaveBeenCalled();
  });

  it('splits a multi-core CPU between sessions and runs batches side by side, one per session', async () => {
    const { gates, createSession } = gatedSessions();
    const classifier = await OnnxClassifier.create(
      info('x.onnx', ['a', 'b']),
      { device: 'cpu', intraOpThreads: 0, graphOptimization: 'all' },
      { createSession, logger: quietLogger(), cores: 8 },
    );
    expect(classifier.concurrency).toBe(2);
    expect(createSession.mock.calls.map(([, o]) => o.intraOpNumThreads)).toEqual([4, 4]);

    const runs = [classifier.run([[1]]), classifier.run([[2]]), classifier.run([[3]])];
    await new Promise((r) => setImmediate(r));
    expect(gates).toHaveLength(2); // the third waits for a free session
    gates[1]();
    await new Promise((r) => setImmediate(r));
    expect(gates).toHaveLength(3);
    gates[0]();
    gates[2]();
    const used = (await Promise.all(runs)).map((o) => o.logits[0][0]);
    expect(new Set(used.slice(0, 2))).toEqual(new Set([0, 1]));
  });

  it('runs a batch on the latency session (every thread) only once the split sessions have been idle a while', async () => {
    const { gates, createSession } = gatedSessions();
    let now = 1_000;
    const classifier = await OnnxClassifier.create(
      info('x.onnx', ['a', 'b']),
      { device: 'cpu', intraOpThreads: 0, graphOptimization: 'all', latencySession: true },
      { createSession, logger: quietLogger(), cores: 2, now: () => now },
    );
    expect(classifier.concurrency).toBe(2);
    expect(createSession.mock.calls.map(([, o]) => o.intraOpNumThreads)).toEqual([1, 1, 2]);
    const sessionOf = async (run: Promise<{ logits: number[][] }>) => (await run).logits[0][0];
    const settle = () => new Promise((r) => setImmediate(r));

    // Nothing ran before: a lone batch gets every thread; one arriving meanwhile takes a split session.
    const lone = classifier.run([[1]]);
    const meanwhile = classifier.run([[2]]);
    await settle();
    gates.splice(0).forEach((open) => open());
    expect([await sessionOf(lone), await sessionOf(meanwhile)]).toEqual([2, 1]);

    // A split session finished at 1,000: within 100 ms the stream counts as busy.
    now = 1_050;
    const busy = classifier.run([[3]]);
    await settle();
    gates.splice(0).forEach((open) => open());
    expect(await sessionOf(busy)).toBeLessThan(2);
    now = 1_200;
    const light = classifier.run([[4]]);
    await settle();
    gates.splice(0).forEach((open) => open());
    expect(await sessionOf(light)).toBe(2);
  });

  it('has no latency session with a single session or on a GPU', async () => {
    const { session } = stubSession(['input_ids']);
    const one = factory(['cpu'], session);
    await OnnxClassifier.create(
      info('x.onnx', ['a', 'b']),
      { device: 'cpu', intraOpThreads: 0, graphOptimization: 'all', sessions: 1, latencySession: true },
      { createSession: one, logger: quietLogger(), cores: 2 },
    );
    expect(one).toHaveBeenCalledTimes(1);
    const gpu = factory(['cuda'], session);
    await OnnxClassifier.create(
      info('x.onnx', ['a', 'b']),
      { device: 'cuda', intraOpThreads: 0, graphOptimization: 'all', sessions: 2, latencySession: true },
      { createSession: gpu, logger: quietLogger(), cudaInstalled: () => true, cores: 16 },
    );
    expect(gpu).toHaveBeenCalledTimes(2);
  });

  it('gives a GPU one session unless told otherwise', async () => {
    const { session } = stubSession(['input_ids']);
    const createSession = factory(['cuda', 'cpu'], session);
    const classifier = await OnnxClassifier.create(
      info('x.onnx', ['a', 'b']),
      { device: 'cuda', intraOpThreads: 0, graphOptimization: 'all' },
      { createSession, logger: quietLogger(), cudaInstalled: () => true, cores: 16 },
    );
    expect(classifier.provider).toBe('cuda');
    expect(classifier.concurrency).toBe(1);
    expect(createSession).toHaveBeenCalledTimes(1);
  });
});

describe('cpuPlan', () => {
  it.each([
    [2, 0, 0, { sessions: 2, intraOpThreads: 1 }],
    [16, 0, 0, { sessions: 2, intraOpThreads: 8 }],
    [1, 0, 0, { sessions: 1, intraOpThreads: 0 }],
    [8, 3, 0, { sessions: 3, intraOpThreads: 2 }],
    [8, 0, 4, { sessions: 2, intraOpThreads: 4 }],
    [8, 1, 0, { sessions: 1, intraOpThreads: 0 }],
  ])('%i cores, ORT_SESSIONS=%i, ORT_INTRA_OP_THREADS=%i → %o', (cores, sessions, threads, plan) => {
    expect(cpuPlan(cores, sessions, threads)).toEqual(plan);
  });
});
