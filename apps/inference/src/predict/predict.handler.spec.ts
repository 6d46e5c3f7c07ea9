import type { ModelInfo } from '@app/model';
import { FakeClock, tokenizedText } from '@app/testing';
import { Classifier, InvalidTokensError, PredictHandler } from './predict.handler';

const MODEL = { name: 'm', version: '3', labels: ['ham', 'spam'], vocabSize: 30_000, maxLength: 8 } as ModelInfo;

function setup() {
  const run = jest.fn(async (batch: number[][]) => ({ logits: batch.map((ids) => (ids[1] > 2000 ? [0, 3] : [3, 0])) }));
  const classifier: Classifier = { concurrency: 2, run };
  const clock = new FakeClock(9_000);
  return { handler: new PredictHandler(MODEL, classifier, clock), run };
}

describe('PredictHandler', () => {
  it('runs the batch once and answers one prediction per record, in order', async () => {
    const { handler, run } = setup();
    const records = [tokenizedText({ inputIds: [101, 2500, 102] }), tokenizedText({ inputIds: [101, 1500, 102] })];
    const predictions = await handler.run(records);
    expect(run).toHaveBeenCalledTimes(1);
    expect(predictions.map((p) => [p.id, p.label, p.batchSize, p.predictedAt])).toEqual([
      [records[0].id, 'spam', 2, 9_000],
      [records[1].id, 'ham', 2, 9_000],
    ]);
    expect(predictions[0]).toMatchObject({ model: 'm', modelVersion: '3', createdAt: records[0].createdAt });
  });

  it('rejects records this model cannot run, naming why', () => {
    const { handler } = setup();
    expect(handler.reject(tokenizedText())).toBeUndefined();
    const oov = handler.reject(tokenizedText({ inputIds: [101, 99_999, 102] }));
    expect(oov).toBeInstanceOf(InvalidTokensError);
    expect(oov!.message).toMatch(/outside the vocabulary/);
    expect(handler.reject(tokenizedText({ inputIds: Array(9).fill(5) }))!.message).toMatch(/max length 8/);
  });

  it('batches by token count and runs as many batches at once as the model has sessions', () => {
    const { handler } = setup();
    expect(handler.lengthOf(tokenizedText({ inputIds: [1, 2, 3, 4] }))).toBe(4);
    expect(handler.concurrency).toBe(2);
  });

  it('fails the whole batch when the model run fails', async () => {
    const { handler, run } = setup();
    run.mockRejectedValueOnce(new Error('session crashed'));
    await expect(handler.run([tokenizedText()])).rejects.toThrow('session crashed');
  });
});
