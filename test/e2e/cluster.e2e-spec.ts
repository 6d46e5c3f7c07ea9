import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AvroCodec, SchemaRegistryAdapter } from '@app/avro';
import { loadCommonConfig } from '@app/config';
import { dlqTopicFor } from '@app/kafka';
import {
  AppName,
  FaultStream,
  isolatedEnv,
  LocalInfra,
  ROOT,
  RunningService,
  startService,
  stopService,
  waitFor,
  waitReady,
} from '@app/testing';
import { Admin, AssignerProtocol, Kafka } from 'kafkajs';

// As in faults.e2e-spec.ts: each scenario streams this many texts at this rate.
const TEXTS = 5_000;
const RATE_PER_S = 150;
const PARTITIONS = 6;
const SCALE_RATE_PER_S = 50;
// The killed broker stays down this long. KRaft fences a silent broker after
// broker.session.timeout.ms (9 s) and only then elects new leaders, so the second half of the
// outage is when the stream must flow on the two remaining brokers.
const OUTAGE_MS = 24_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Each scenario's figures go to .e2e/cluster-report.jsonl, for the record of what was measured. */
function record(row: Record<string, unknown>): void {
  mkdirSync(join(ROOT, '.e2e'), { recursive: true });
  appendFileSync(
    join(ROOT, '.e2e', 'cluster-report.jsonl'),
    JSON.stringify({ at: new Date().toISOString(), ...row }) + '\n',
  );
  console.log(JSON.stringify(row));
}

/** The longest stretch without output in [from, to], and when output resumed after it. */
function longestGap(times: number[], from: number, to: number): { gapMs: number; resumedAt: number } {
  const inside = times.filter((t) => t >= from && t <= to);
  let gapMs = inside.length > 0 ? inside[0] - from : to - from;
  let resumedAt = inside[0] ?? to;
  for (let i = 1; i < inside.length; i++) {
    if (inside[i] - inside[i - 1] > gapMs) {
      gapMs = inside[i] - inside[i - 1];
      resumedAt = inside[i];
    }
  }
  return { gapMs, resumedAt };
}

const countBetween = (times: number[], from: number, to: number) => times.filter((t) => t >= from && t < to).length;

/** The stage's stage_records_in_total from its /metrics. */
async function recordsIn(service: RunningService): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('stage_records_in_total'));
  return line ? Number(line.split(' ').pop()) : 0;
}

/**
 * Which replica holds each partition ("topic/partition" → client id). By replica, not member id: a
 * member the coordinator dropped (a session timeout on a starved machine) rejoins under a new id.
 */
async function groupOwners(admin: Admin, groupId: string): Promise<Map<string, string>> {
  const { groups } = await admin.describeGroups([groupId]);
  const owners = new Map<string, string>();
  for (const m of groups[0].members) {
    const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
    for (const [topic, partitions] of Object.entries(assignment?.assignment ?? {}))
      for (const p of partitions) owners.set(`${topic}/${p}`, m.clientId);
  }
  return owners;
}

/** Partitions each member of the group holds, largest first (one member per replica). */
async function groupSpread(admin: Admin, groupId: string): Promise<number[]> {
  const { groups } = await admin.describeGroups([groupId]);
  return groups[0].members
    .map((m) => {
      const assignment = AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
      return Object.values(assignment?.assignment ?? {}).reduce((n, partitions) => n + partitions.length, 0);
    })
    .sort((a, b) => b - a);
}

/** Partitions held before that another replica (or none) holds after. */
function movedPartitions(before: Map<string, string>, after: Map<string, string>): number {
  return [...before].filter(([partition, member]) => after.get(partition) !== member).length;
}

describe('a replicated three-broker cluster (a private KRaft cluster and registry, the services as processes)', () => {
  let infra: LocalInfra;
  let kafka: Kafka;
  let admin: Admin;
  const running: RunningService[] = [];
  const streams: FaultStream[] = [];

  beforeAll(async () => {
    infra = await LocalInfra.allocate('cluster', { brokers: 3 });
    await infra.up();
    kafka = FaultStream.patientKafka(infra.brokers);
    admin = kafka.admin();
    await admin.connect();
  }, 600_000);

  afterEach(async () => {
    await Promise.all(streams.splice(0).map((s) => s.stop()));
    await Promise.all(running.splice(0).map((s) => stopService(s)));
  });

  afterAll(async () => {
    await admin?.disconnect();
    await infra?.down();
  }, 120_000);

  async function start(app: AppName, env: Record<string, string>): Promise<RunningService> {
    const service = await startService(app, env);
    running.push(service);
    return service;
  }

  /** Preprocessor and inference on fresh topics of PARTITIONS partitions, and a stream ready to send. */
  async function setUp() {
    const env = { ...infra.env, ...isolatedEnv({ TOPIC_PARTITIONS: String(PARTITIONS) }) };
    const stages = { preprocessor: await start('preprocessor', env), inference: await start('inference', env) };
    await Promise.all([waitReady(stages.preprocessor), waitReady(stages.inference)]);
    const codec = new AvroCodec(new SchemaRegistryAdapter(infra.registryUrl), {
      raw: env.TOPIC_RAW,
      tokenized: env.TOPIC_TOKENIZED,
      prediction: env.TOPIC_PREDICTIONS,
    });
    await codec.registerAll();
    const stream = new FaultStream(kafka, codec, { raw: env.TOPIC_RAW, predictions: env.TOPIC_PREDICTIONS }, TEXTS);
    streams.push(stream);
    await stream.startReaders();
    const topics = [env.TOPIC_RAW, env.TOPIC_TOKENIZED, env.TOPIC_PREDICTIONS];
    return { env, stages, stream, topics };
  }

  it('creates the pipeline topics replicated on all three brokers; a kill -9 of a leader loses nothing and the stream flows on', async () => {
    const t0 = Date.now();
    // Which step a slow run is in (a bare jest timeout names none).
    const step = (name: string) =>
      console.log(`${name} at +${Math.round((Date.now() - t0) / 1000)} s (predicted ${stream.predictedCount()})`);
    const { stream, topics } = await setUp();
    const metadata = await admin.fetchTopicMetadata({ topics: [...topics, dlqTopicFor(topics[0])] });
    for (const topic of metadata.topics) {
      for (const p of topic.partitions)
        expect({ topic: topic.name, replicas: p.replicas.length }).toEqual({ topic: topic.name, replicas: 3 });
    }
    expect(metadata.topics.find((t) => t.name === topics[0])!.partitions).toHaveLength(PARTITIONS);

    stream.startSending(RATE_PER_S);
    await waitFor(() => stream.predictedCount() >= TEXTS / 5, { timeoutMs: 120_000, description: 'a fifth predicted' });

    // The victim: the broker leading the most partitions of the pipeline's topics.
    const led = new Map<number, number>();
    for (const topic of metadata.topics)
      for (const p of topic.partitions) led.set(p.leader, (led.get(p.leader) ?? 0) + 1);
    const [victim, ledPartitions] = [...led.entries()].sort((a, b) => b[1] - a[1])[0];
    const killedAt = Date.now();
    await infra.killBroker(victim);
    await sleep(OUTAGE_MS);
    const restartAt = Date.now();
    const times = stream.stageOutputTimes('inference');
    const { gapMs: stallMs, resumedAt } = longestGap(times, killedAt, restartAt);
    const secondHalf = countBetween(times, killedAt + OUTAGE_MS / 2, restartAt);

    step('outage over, restarting the broker');
    await infra.up();
    const backAt = Date.now();
    step('broker restarted');
    // The restarted node catches up and rejoins every partition's in-sync replicas.
    await waitFor(
      async () => {
        const md = await admin.fetchTopicMetadata({ topics });
        return md.topics.every((t) => t.partitions.every((p) => p.isr.length === 3));
      },
      { timeoutMs: 120_000, intervalMs: 500, description: 'every partition back to 3 in-sync replicas' },
    );
    const inSyncAfterMs = Date.now() - backAt;
    step('3 in-sync replicas');

    await stream.sent();
    step('all sent');
    await stream.waitForAll(240_000);
    const report = stream.report();
    const all = stream.stageOutputTimes('inference');
    const perS = (from: number, to: number) => Math.round((countBetween(all, from, to) * 1000) / (to - from));
    const rateBeforeKill = perS(killedAt - 5_000, killedAt);
    // Predictions per second, second by second, from the kill until 10 s after the restart.
    const perSecond = Array.from({ length: Math.ceil((restartAt + 10_000 - killedAt) / 1000) }, (_, i) =>
      countBetween(all, killedAt + i * 1000, killedAt + (i + 1) * 1000),
    );
    const backToRateAfterS = perSecond.findIndex((n, i) => i > 0 && n >= rateBeforeKill);
    record({
      fault: 'kill -9 of one of 3 brokers, down 24 s',
      victim,
      ledPartitions,
      ...report,
      rateBeforeKill,
      rateDuringOutage: perS(killedAt, restartAt),
      rateSecondHalfOfOutage: perS(killedAt + OUTAGE_MS / 2, restartAt),
      rateAfterRestart: perS(restartAt, restartAt + 10_000),
      stallMs,
      stallEndedAfterMs: resumedAt - killedAt,
      backToRateAfterS,
      perSecond,
      inSyncAfterMs,
    });
    expect(report.lost).toBe(0);
    // The stream flows on two brokers: predictions keep arriving in the second half of the outage.
    expect(secondHalf).toBeGreaterThan(0);
    // The waits above (restart, in-sync, every prediction) fail with their own message within this.
  }, 480_000);

  it('1 → 2 → 3 replicas of each stage share 6 partitions; the rebalances lose nothing', async () => {
    const { env, stages, stream } = await setUp();
    const replicas: Record<'preprocessor' | 'inference', RunningService[]> = {
      preprocessor: [stages.preprocessor],
      inference: [stages.inference],
    };
    const group = (app: string) => `${env.KAFKA_GROUP_ID_PREFIX}${app}`;
    // KAFKA_PARTITION_ASSIGNOR passes through to the services (docs/ARCHITECTURE.md, "The partition assignor").
    const { partitionAssignor } = loadCommonConfig({ ...process.env, ...env }).kafka;
    const phases: Record<string, unknown>[] = [];
    const counted = new Map<RunningService, number>();
    const owners: Record<string, Map<string, string>> = {};

    /** Records each replica consumed since the previous call, each group's partitions per member, and the pauses. */
    async function phase(name: string, rebalance?: { from: number; to: number }): Promise<void> {
      const row: Record<string, unknown> = { phase: name };
      for (const app of ['preprocessor', 'inference'] as const) {
        const now = await Promise.all(replicas[app].map(recordsIn));
        row[`${app}Records`] = now.map((n, i) => n - (counted.get(replicas[app][i]) ?? 0));
        row[`${app}Partitions`] = await groupSpread(admin, group(app));
        // Partitions that changed replica since the last phase (what the assignor moved).
        const held = await groupOwners(admin, group(app));
        if (owners[app]) row[`${app}Moved`] = movedPartitions(owners[app], held);
        owners[app] = held;
        replicas[app].forEach((s, i) => counted.set(s, now[i]));
        if (rebalance) {
          // The pause the join's rebalance caused: the longest stretch without this stage's output
          // from the new replica's start until its group had settled.
          row[`${app}PauseMs`] = longestGap(stream.stageOutputTimes(app), rebalance.from, rebalance.to).gapMs;
        }
      }
      phases.push(row);
    }

    /** One more replica of each stage; resolves once both groups have settled with n members. */
    async function scaleTo(n: number): Promise<{ from: number; to: number }> {
      const from = Date.now();
      // Each replica its own client id, so that groupOwners tells replicas apart.
      const replicaEnv = { ...env, KAFKA_CLIENT_ID: `replica-${n}` };
      const added = await Promise.all([start('preprocessor', replicaEnv), start('inference', replicaEnv)]);
      await Promise.all(added.map((s) => waitReady(s, 120_000)));
      replicas.preprocessor.push(added[0]);
      replicas.inference.push(added[1]);
      await waitFor(
        async () =>
          (await groupSpread(admin, group('preprocessor'))).length === n &&
          (await groupSpread(admin, group('inference'))).length === n,
        { timeoutMs: 60_000, intervalMs: 500, description: `${n} members in each group` },
      );
      // Output after a rebalance shows with the next batches: look a little past the settling.
      await sleep(3_000);
      return { from, to: Date.now() };
    }

    // A slower stream than the fault scenarios' (100 s of sending) so that both joins happen while it flows.
    stream.startSending(SCALE_RATE_PER_S);
    await waitFor(() => stream.predictedCount() >= TEXTS / 10, {
      timeoutMs: 120_000,
      description: 'a tenth predicted',
    });
    await phase('1 replica');
    const rebalance2 = await scaleTo(2);
    await sleep(5_000);
    await phase('2 replicas', rebalance2);
    const rebalance3 = await scaleTo(3);
    const sentWhenThreeJoined = await Promise.race([stream.sent().then(() => true), sleep(0).then(() => false)]);
    await stream.sent();
    await stream.waitForAll(300_000);
    await phase('3 replicas', rebalance3);

    const report = stream.report();
    record({
      scenario: 'scale 1 → 2 → 3 replicas, 6 partitions',
      assignor: partitionAssignor,
      delivery: process.env.DELIVERY ?? 'at-least-once',
      // Finds this run's service logs in .e2e/logs.
      topic: env.TOPIC_RAW,
      rate: SCALE_RATE_PER_S,
      ...report,
      sentWhenThreeJoined,
      phases,
    });
    expect(report.lost).toBe(0);
    const last = phases[phases.length - 1];
    // Every replica holds partitions, and 6 partitions over 3 members is 2 each.
    expect(last.preprocessorPartitions).toEqual([2, 2, 2]);
    expect(last.inferencePartitions).toEqual([2, 2, 2]);
    // Every replica did a share of the work while it was in the group (the stream still flowed when the third joined).
    expect(sentWhenThreeJoined).toBe(false);
    for (const app of ['preprocessor', 'inference'] as const) {
      for (const n of last[`${app}Records`] as number[]) expect(n).toBeGreaterThan(0);
    }
  });
});
