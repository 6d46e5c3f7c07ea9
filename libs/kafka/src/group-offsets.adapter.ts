import type { Admin, Kafka } from 'kafkajs';

/** A consumer group's committed offsets, read through one admin connection opened on first use. */
export class GroupOffsetsAdapter {
  private admin?: Promise<Admin>;

  constructor(
    private readonly kafka: Kafka,
    private readonly groupId: string,
  ) {}

  /** The group's committed offset of `topic[partition]`; undefined when it has none. */
  async committed(topic: string, partition: number): Promise<string | undefined> {
    const admin = await (this.admin ??= this.connect());
    const [entry] = await admin.fetchOffsets({ groupId: this.groupId, topics: [topic] });
    const offset = entry?.partitions.find((p) => p.partition === partition)?.offset;
    return offset === undefined || BigInt(offset) < 0n ? undefined : offset;
  }

  async close(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await (await admin?.catch(() => undefined))?.disconnect().catch(() => undefined);
  }

  private async connect(): Promise<Admin> {
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      return admin;
    } catch (error) {
      // The next call tries a fresh connection.
      this.admin = undefined;
      throw error;
    }
  }
}
