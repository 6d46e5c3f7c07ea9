import { AvroCodec } from '@app/avro';
import { patchKafkajsIdleLoop, sendEvery, trackedPartitioner } from '@app/kafka';
import { Consumer, Kafka, Producer } from 'kafkajs';
import { uniqueName, uniqueSuffix } from './unique';
import { waitFor } from './wait-for';

export interface SeenPrediction {
  id: string;
  /** When each stage finished it (the record's own fields), so a slow reader does not blur the timing. */
  tokenizedAt: number;
  predictedAt: number;
}

export interface StreamReport {
  sent: number;
  lost: number;
  /** Predictions beyond one per raw record of the id (raw copies the harness itself re-sent are not counted). */
  duplicates: number;
  /** Longest stretch, in ms, between two consecutive predictions of this stream. */
  longestGapMs: number;
}

/**
 * Drives one stream of texts through the pipeline while a test injects a fault: sends `count` raw
 * records at `ratePerS`, re-sending a batch until the broker acknowledges it (so a broker outage
 * delays the stream but never drops a text), and reads raw and predictions back to count what was
 * lost or duplicated. Every record is identified by (partition, offset), so a reader that restarts
 * from the beginning after an outage counts nothing twice.
 */
export class FaultStream {
  readonly ids: string[];
  private readonly predictions = new Map<string, SeenPrediction>();
  private readonly rawCopies = new Map<string, Set<string>>();
  private readonly consumers: Consumer[] = [];
  private producer?: Producer;
  private sending?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly kafka: Kafka,
    private readonly codec: AvroCodec,
    private readonly topics: { raw: string; predictions: string },
    readonly count: number,
    private readonly text: (i: number) => string = (i) =>
      `fault stream text number ${i}: markets, matches and ministers`,
  ) {
    const run = uniqueSuffix();
    this.ids = Array.from({ length: count }, (_, i) => `${run}-${i}`);
  }

  /** A kafkajs client that keeps retrying through a broker outage of tens of seconds. */
  static patientKafka(brokers: string[]): Kafka {
    // As createKafka does: unpatched, an idle kafkajs connection re-arms a timer with a negative
    // delay, which Node 24 and later report as a TimeoutNegativeWarning (every line runs it every 1 ms).
    patchKafkajsIdleLoop();
    return new Kafka({
      clientId: uniqueName('fault-stream'),
      brokers,
      logLevel: 0,
      retry: { retries: 100, initialRetryTime: 200, maxRetryTime: 2_000 },
    });
  }

  async startReaders(): Promise<void> {
    await this.read(this.topics.predictions, async (key, value, where) => {
      if (this.predictions.has(where)) return;
      const prediction = await this.codec.decode('prediction', value);
      this.predictions.set(where, {
        id: key,
        tokenizedAt: Number(prediction.tokenizedAt),
        predictedAt: Number(prediction.predictedAt),
      });
    });
    await this.read(this.topics.raw, (key, _value, where) => {
      const copies = this.rawCopies.get(key) ?? new Set<string>();
      copies.add(where);
      this.rawCopies.set(key, copies);
      return Promise.resolve();
    });
  }

  /** Starts sending in the background; `sent()` resolves once every record is acknowledged. */
  startSending(ratePerS: number): void {
    this.sending = this.send(ratePerS);
  }

  async sent(): Promise<void> {
    await this.sending;
  }

  /** How many of this stream's ids have a prediction so far. */
  predictedCount(): number {
    return new Set([...this.predictions.values()].map((p) => p.id)).size;
  }

  /** The earliest predictedAt at or after `t` (ms since epoch), if any. */
  firstPredictionAfter(t: number): number | undefined {
    return this.firstAfter('predictedAt', t);
  }

  /** The earliest output of a stage at or after `t`: tokenizedAt for the preprocessor, predictedAt for inference. */
  firstStageOutputAfter(stage: 'preprocessor' | 'inference' | 'gateway', t: number): number | undefined {
    return this.firstAfter(stage === 'preprocessor' ? 'tokenizedAt' : 'predictedAt', t);
  }

  /** Every output time of a stage (tokenizedAt for the preprocessor, predictedAt for inference), sorted. */
  stageOutputTimes(stage: 'preprocessor' | 'inference'): number[] {
    const field = stage === 'preprocessor' ? 'tokenizedAt' : 'predictedAt';
    return [...this.predictions.values()].map((p) => p[field]).sort((a, b) => a - b);
  }

  private firstAfter(field: 'tokenizedAt' | 'predictedAt', t: number): number | undefined {
    let first: number | undefined;
    for (const seen of this.predictions.values()) {
      if (seen[field] >= t && (first === undefined || seen[field] < first)) first = seen[field];
    }
    return first;
  }

  async waitForAll(timeoutMs: number): Promise<void> {
    await waitFor(() => this.predictedCount() === this.count, {
      timeoutMs,
      intervalMs: 250,
      description: () => `predictions for all ${this.count} ids (have ${this.predictedCount()})`,
    });
  }

  report(): StreamReport {
    const perId = new Map<string, number>();
    for (const { id } of this.predictions.values()) perId.set(id, (perId.get(id) ?? 0) + 1);
    let duplicates = 0;
    for (const [id, n] of perId) duplicates += Math.max(0, n - (this.rawCopies.get(id)?.size ?? 1));
    const times = [...this.predictions.values()].map((p) => p.predictedAt).sort((a, b) => a - b);
    let longestGapMs = 0;
    for (let i = 1; i < times.length; i++) longestGapMs = Math.max(longestGapMs, times[i] - times[i - 1]);
    return {
      sent: this.count,
      lost: this.ids.filter((id) => !perId.has(id)).length,
      duplicates,
      longestGapMs,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.sending?.catch(() => undefined);
    await Promise.allSettled([this.producer?.disconnect(), ...this.consumers.map((c) => c.disconnect())]);
  }

  private async send(ratePerS: number): Promise<void> {
    // Placement tracked: a send kafkajs resolves with records dropped (a leader moved) is completed.
    this.producer = this.kafka.producer({ allowAutoTopicCreation: false, createPartitioner: trackedPartitioner });
    await this.producer.connect();
    const tickMs = 100;
    const started = Date.now();
    let next = 0;
    while (next < this.count && !this.stopped) {
      // What is owed by now, so a slow tick (or an outage) is caught up rather than stretched.
      const owed = Math.min(this.count, Math.floor(((Date.now() - started) / 1000) * ratePerS) + 1);
      if (owed > next) {
        const batch = this.ids.slice(next, owed).map((id, j) => ({
          key: id,
          value: this.codec.encode('raw', {
            id,
            text: this.text(next + j),
            createdAt: Date.now(),
            source: 'fault-stream',
            metadata: {},
          }),
        }));
        await this.sendUntilAcked(batch);
        next = owed;
      }
      await new Promise((resolve) => setTimeout(resolve, tickMs));
    }
  }

  private async sendUntilAcked(messages: { key: string; value: Buffer }[]): Promise<void> {
    const since = Date.now();
    while (!this.stopped) {
      try {
        await sendEvery(this.producer!, [{ topic: this.topics.raw, messages }], console);
        if (Date.now() - since > 5_000) console.warn(`fault-stream: a send took ${Date.now() - since} ms`);
        return;
      } catch {
        // The broker is down: keep the texts and try again; the reader dedupes what did land.
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /** A fresh reader in place of one that stopped, retried until it starts or the stream stops. */
  private async readAgain(
    topic: string,
    onMessage: (key: string, value: Buffer | null, where: string) => Promise<void>,
  ): Promise<void> {
    while (!this.stopped) {
      try {
        await this.read(topic, onMessage);
        return;
      } catch (error) {
        console.warn(`fault-stream reader of ${topic} not restarted yet: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }

  private async read(
    topic: string,
    onMessage: (key: string, value: Buffer | null, where: string) => Promise<void>,
  ): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: uniqueName('fault-reader'),
      readUncommitted: false,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
    });
    this.consumers.push(consumer);
    // kafkajs restarts a crashed consumer only after a retriable error (not, for one, after "Failed to
    // find group coordinator" while the coordinator's broker is down): a reader that stopped for good
    // would see no more records and the scenario would wait for them until its timeout. Start another.
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      console.warn(
        `fault-stream reader of ${topic} crashed (${payload.error.message}); kafkajs restarts it: ${payload.restart}`,
      );
      if (payload.restart || this.stopped) return;
      this.consumers.splice(this.consumers.indexOf(consumer), 1);
      void consumer
        .disconnect()
        .catch(() => undefined)
        .then(() => this.readAgain(topic, onMessage));
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const mine = new Set(this.ids);
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message, partition }) => {
        const key = message.key?.toString();
        if (key === undefined || !mine.has(key)) return;
        await onMessage(key, message.value, `${partition}:${message.offset}`);
      },
    });
  }
}
