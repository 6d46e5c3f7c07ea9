// One thread of the bare ceiling (bench/bare-ceiling.ts): an onnxruntime-node session called
// directly, no project code. Plain JavaScript, so nothing of ours is compiled into the timed path.
// workerData: { modelPath, batches: number[][][] (token id rows), next: SharedArrayBuffer }
// The threads share `next`, the index of the batch to take, as the Python threads share theirs.
const { parentPort, workerData } = require('node:worker_threads');
const ort = require('onnxruntime-node');

const { modelPath, batches, next } = workerData;
const cursor = new Int32Array(next);

function feedsOf(rows, inputNames) {
  const longest = rows.reduce((m, r) => Math.max(m, r.length), 0);
  const n = rows.length * longest;
  const ids = new BigInt64Array(n);
  const mask = new BigInt64Array(n);
  rows.forEach((row, r) => {
    for (let i = 0; i < row.length; i++) {
      ids[r * longest + i] = BigInt(row[i]);
      mask[r * longest + i] = 1n;
    }
  });
  const dims = [rows.length, longest];
  const all = {
    input_ids: new ort.Tensor('int64', ids, dims),
    attention_mask: new ort.Tensor('int64', mask, dims),
    token_type_ids: new ort.Tensor('int64', new BigInt64Array(n), dims),
  };
  return Object.fromEntries(inputNames.map((name) => [name, all[name]]));
}

async function main() {
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  await session.run(feedsOf(batches[0], session.inputNames)); // warm-up
  parentPort.on('message', async (message) => {
    if (message === 'release') {
      await session.release();
      parentPort.postMessage('released');
      return;
    }
    // 'run': take batches until none is left; answer each text's argmax, by batch index.
    const labels = [];
    for (let b = Atomics.add(cursor, 0, 1); b < batches.length; b = Atomics.add(cursor, 0, 1)) {
      const out = await session.run(feedsOf(batches[b], session.inputNames));
      const logits = out.logits;
      const width = logits.dims[1];
      const best = [];
      for (let r = 0; r < logits.dims[0]; r++) {
        let k = 0;
        for (let j = 1; j < width; j++) if (logits.data[r * width + j] > logits.data[r * width + k]) k = j;
        best.push(k);
      }
      labels.push([b, best]);
    }
    parentPort.postMessage({ labels });
  });
  parentPort.postMessage('ready');
}

main().catch((error) => {
  throw error;
});
