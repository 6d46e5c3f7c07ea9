import { join } from 'node:path';
import { projectRoot } from '@app/config';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { buildBatchTensors } from './batch-tensors';
import { OrtWorkerSession } from './ort-worker-session';

const MODEL = join(projectRoot(), 'models/minilm-spam/model.onnx');

function feeds(batch: number[][]): Record<string, Tensor> {
  const t = buildBatchTensors(batch);
  const dims = [t.batchSize, t.padLength];
  return {
    input_ids: new Tensor('int64', t.inputIds, dims),
    attention_mask: new Tensor('int64', t.attentionMask, dims),
    token_type_ids: new Tensor('int64', t.tokenTypeIds, dims),
  };
}

describe('OrtWorkerSession', () => {
  const batch = [
    [101, 7592, 2088, 102],
    [101, 4604, 2033, 2769, 2085, 999, 102],
  ];

  it('gives the same logits as a session on the main thread, and leaves the event loop free meanwhile', async () => {
    const worker = await OrtWorkerSession.create(MODEL, { executionProviders: ['cpu'] });
    const local = await InferenceSession.create(MODEL, { executionProviders: ['cpu'] });
    try {
      expect(worker.inputNames).toEqual(local.inputNames);
      expect(worker.outputNames).toEqual(['logits']);
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 0);
      const runs = Array.from({ length: 20 }, () => worker.run(feeds(batch), ['logits']));
      const out = (await Promise.all(runs))[0].logits;
      clearInterval(ticker);
      const expected = (await local.run(feeds(batch), ['logits'])).logits;
      expect(out.dims).toEqual([2, 2]);
      expect(Array.from(out.data as Float32Array)).toEqual(Array.from(expected.data as Float32Array));
      expect(ticks).toBeGreaterThan(0);
    } finally {
      await worker.release();
      await local.release();
    }
  });

  it('rejects with onnxruntime’s message when the model cannot be loaded', async () => {
    await expect(OrtWorkerSession.create('/nonexistent/model.onnx', {})).rejects.toThrow(/nonexistent\/model\.onnx/);
  });

  it('rejects a run with a bad feed and keeps serving the next one', async () => {
    const worker = await OrtWorkerSession.create(MODEL, { executionProviders: ['cpu'] });
    try {
      const bad = { input_ids: new Tensor('float32', new Float32Array(4), [1, 4]) };
      await expect(worker.run(bad, ['logits'])).rejects.toThrow(/input|type|tensor/i);
      const ok = await worker.run(feeds(batch), ['logits']);
      expect(ok.logits.dims).toEqual([2, 2]);
    } finally {
      await worker.release();
    }
  });

  it('rejects runs after release', async () => {
    const worker = await OrtWorkerSession.create(MODEL, {});
    await worker.release();
    await expect(worker.run(feeds(batch), ['logits'])).rejects.toThrow('released');
  });
});
