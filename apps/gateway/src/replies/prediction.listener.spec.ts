import { AvroDeserializer } from '@app/avro';
import { RecordSigner, SIGNATURE_HEADER } from '@app/common';
import { Secret } from '@app/config';
import { Logger } from '@nestjs/common';
import { MetricsService } from '@app/observability';
import type { GatewayConfig } from '@app/config';
import type { KafkaConnection } from '@app/kafka';
import { fakeKafka, kafkaMessage, predictionRecord, registeredCodec } from '@app/testing';
import { AssignerProtocol, Cluster, ConsumerConfig, EachBatchPayload } from 'kafkajs';
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
  topics: { predictions: 'predictions', replies: 'replies' },
  gateway: { replyPartition: 2 },
} as GatewayConfig;
const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

async function setup(cfg: GatewayConfig = config) {
  const { codec } = await registeredCodec();
  const { kafka, consumers } = fakeKafka();
  const pending = new PendingReplies();
  const metrics = new MetricsService();
  const listener = new PredictionListener(
    kafka,
    cfg,
    new AvroDeserializer(codec, 'prediction'),
    pending,
    { whenReady: async () => undefined } as KafkaConnection,
    metrics,
  );
  listener.start();
  await flush();
  return { listener, consumers, pending, codec, kafka, metrics };
}

describe('PredictionListener', () => {
  it('reads its replies from now on, in a group of its own, and names where they go', async () => {
    const { consumers, kafka, listener } = await setup();
    expect(kafka.consumer).toHaveBeenCalledWith(
      expect.objectContaining({ groupId: `x-gateway-${listener.instanceId}` }),
    );
    expect(consumers[0].consumer.subscribe).toHaveBeenCalledWith({ topics: ['replies'], fromBeginning: false });
    expect(listener.replyTo).toEqual({ topic: 'replies', partition: 2 });
    await listener.beforeApplicationShutdown();
  });

  it("its group's assignor gives it only its own partition of the replies topic", async () => {
    const { kafka, listener } = await setup();
    const [{ partitionAssigners }] = (kafka.consumer as jest.Mock).mock.calls[0] as [ConsumerConfig];
    const cluster = {
      findTopicPartitionMetadata: () => [0, 1, 2, 3].map((partitionId) => ({ partitionId })),
    } as unknown as Cluster;
    const assigner = partitionAssigners![0]({ cluster, groupId: 'g', logger: {} as never });
    const [member] = await assigner.assign({
      members: [{ memberId: 'm', memberMetadata: Buffer.alloc(0) }],
      topics: ['replies'],
    });
    expect(AssignerProtocol.MemberAssignment.decode(member.memberAssignment)?.assignment).toEqual({ replies: [2] });
    const tooFew = { findTopicPartitionMetadata: () => [{ partitionId: 0 }] } as unknown as Cluster;
    await expect(
      partitionAssigners![0]({ cluster: tooFew, groupId: 'g', logger: {} as never }).assign({
        members: [],
        topics: ['replies'],
      }),
    ).rejects.toThrow(/replies has no partition 2 \(GATEWAY_REPLY_PARTITION\)/);
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
    const { consumers, pending, codec, listener, metrics } = await setup();
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
    // Both records were fetched, ours or not: the cost that scales with the number of gateways.
    const fetched = payload.batch.messages.reduce((n, m) => n + m.key!.length + m.value!.length, 0);
    expect((await metrics.replyFetchedRecords.get()).values[0].value).toBe(2);
    expect((await metrics.replyFetchedBytes.get()).values[0].value).toBe(fetched);
    await listener.beforeApplicationShutdown();
  });

  it('with PREDICTION_SIGNING_KEY, answers only signed predictions: a forged one is refused and logged', async () => {
    const key = 'k'.repeat(40);
    const { consumers, pending, codec, listener } = await setup({
      ...config,
      signingKey: new Secret(key),
    });
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const genuine = predictionRecord();
    const forged = { ...genuine, label: 'FORGED-BY-ANY-KAFKA-CLIENT', model: 'not-the-model' };
    const answer = pending.wait(genuine.id, 1_000);
    const forgedValue = codec.encode('prediction', forged);
    const genuineValue = codec.encode('prediction', genuine);
    const unsigned = kafkaMessage(forgedValue, { key: genuine.id });
    const wrongKey = kafkaMessage(forgedValue, { key: genuine.id, offset: 1 });
    wrongKey.headers = { [SIGNATURE_HEADER]: new RecordSigner('x'.repeat(40)).sign(genuine.id, forgedValue) };
    // A genuine signature copied onto forged bytes.
    const copied = kafkaMessage(forgedValue, { key: genuine.id, offset: 2 });
    copied.headers = { [SIGNATURE_HEADER]: new RecordSigner(key).sign(genuine.id, genuineValue) };
    const signed = kafkaMessage(genuineValue, { key: genuine.id, offset: 3 });
    signed.headers = { [SIGNATURE_HEADER]: new RecordSigner(key).sign(genuine.id, genuineValue) };
    const batch = (messages: unknown[]) =>
      ({ batch: { topic: 'predictions', partition: 0, messages } }) as unknown as EachBatchPayload;
    await consumers[0].runConfig!.eachBatch!(batch([unsigned, wrongKey, copied]));
    expect(pending.has(genuine.id)).toBe(true);
    expect(listener.refused).toBe(3);
    expect(warn).toHaveBeenCalledWith(
      expect.stringMatching(new RegExp(`refused a prediction for ${genuine.id} .*signature`)),
    );
    await consumers[0].runConfig!.eachBatch!(batch([signed]));
    await expect(answer).resolves.toEqual(genuine);
    warn.mockRestore();
    await listener.beforeApplicationShutdown();
  });
});
