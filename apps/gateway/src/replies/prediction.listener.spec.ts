import { AvroDeserializer } from '@app/avro';
import type { GatewayConfig } from '@app/config';
import type { KafkaConnection } from '@app/kafka';
import { fakeKafka, kafkaMessage, predictionRecord, registeredCodec } from '@app/testing';
import type { EachBatchPayload } from 'kafkajs';
import { PendingReplies } from './pending-replies';
import { PredictionListener } from './prediction.listener';

const config = {
  kafka: {
    groupIdPrefix: 'x-',
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 1_000,
    healthWindowMs: 3_000,
    restartMaxBackoffMs: 2_000,
  },
  topics: { predictions: 'predictions' },
} as GatewayConfig;
const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

async function setup() {
  const { codec } = await registeredCodec();
  const { kafka, consumers } = fakeKafka();
  const pending = new PendingReplies();
  const listener = new PredictionListener(kafka, config, new AvroDeserializer(codec, 'prediction'), pending, {
    whenReady: async () => undefined,
  } as KafkaConnection);
  listener.start();
  await flush();
  return { listener, consumers, pending, codec, kafka };
}

describe('PredictionListener', () => {
  it('reads predictions from now on, in a group of its own', async () => {
    const { consumers, kafka, listener } = await setup();
    expect(kafka.consumer).toHaveBeenCalledWith(
      expect.objectContaining({ groupId: `x-gateway-${listener.instanceId}` }),
    );
    expect(consumers[0].consumer.subscribe).toHaveBeenCalledWith({ topics: ['predictions'], fromBeginning: false });
    await listener.beforeApplicationShutdown();
  });

  it('is listening only once a fetch ran after joining, and not after a rebalance starts', async () => {
    const { listener, consumers } = await setup();
    expect(listener.isListening).toBe(false);
    consumers[0].emit('group_join', { memberAssignment: {} });
    expect(listener.isListening).toBe(false);
    consumers[0].emit('fetch');
    expect(listener.isListening).toBe(true);
    consumers[0].emit('rebalancing');
    expect(listener.isListening).toBe(false);
    await listener.beforeApplicationShutdown();
  });

  it('delivers the predictions this instance waits for and skips the others', async () => {
    const { consumers, pending, codec, listener } = await setup();
    const mine = predictionRecord();
    const other = predictionRecord();
    const answer = pending.wait(mine.id, 1_000);
    const payload = {
      batch: {
        topic: 'predictions',
        partition: 0,
        messages: [
          kafkaMessage(codec.encode('prediction', other), { key: other.id }),
          kafkaMessage(codec.encode('prediction', mine), { key: mine.id, offset: 1 }),
        ],
      },
    } as unknown as EachBatchPayload;
    await consumers[0].runConfig!.eachBatch!(payload);
    await expect(answer).resolves.toEqual(mine);
    expect(pending.size).toBe(0);
    await listener.beforeApplicationShutdown();
  });
});
