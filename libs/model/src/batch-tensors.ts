/** Token ids of a batch as the flat row-major int64 buffers the model takes ([batch, padLength]). */
export interface BatchTensors {
  batchSize: number;
  padLength: number;
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  tokenTypeIds: BigInt64Array;
}

/** Right-pads every sequence to the longest in the batch: pad id 0, attention 0 on pads, types 0. */
export function buildBatchTensors(batch: readonly (readonly number[])[]): BatchTensors {
  if (batch.length === 0) throw new RangeError('cannot run an empty batch');
  let padLength = 0;
  for (const ids of batch) {
    if (ids.length === 0) throw new RangeError('cannot run an empty token sequence');
    if (ids.length > padLength) padLength = ids.length;
  }
  const size = batch.length * padLength;
  const inputIds = new BigInt64Array(size);
  const attentionMask = new BigInt64Array(size);
  batch.forEach((ids, row) => {
    const offset = row * padLength;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0)
        throw new RangeError(`token id ${id} (row ${row}) is not a non-negative integer`);
      inputIds[offset + i] = BigInt(id);
      attentionMask[offset + i] = 1n;
    }
  });
  return { batchSize: batch.length, padLength, inputIds, attentionMask, tokenTypeIds: new BigInt64Array(size) };
}
