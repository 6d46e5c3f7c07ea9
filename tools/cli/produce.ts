// npm run produce -- FILE [--topic raw] [--ids-out FILE] [--batch 500]
// Sends one text per line of FILE onto the raw topic, as any stream producer would.
import { RawText } from '@app/avro';
import { KafkaProducerAdapter } from '@app/kafka';
import { createReadStream, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { cliContext, fail, parseArgs } from './cli-context';

function progress(sent: number, total: number): void {
  if (!process.stderr.isTTY) return;
  const width = 30;
  const done = total ? Math.round((sent / total) * width) : width;
  process.stderr.write(`\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${sent}/${total}`);
}

async function main(): Promise<void> {
  const { positional, flags } = parseArgs(process.argv.slice(2));
  const file = positional[0] ?? fail('usage: npm run produce -- FILE [--topic TOPIC] [--ids-out FILE]');
  const batchSize = Number(flags.batch ?? 500);
  const { config, kafka, codec } = cliContext('produce');
  const topic = typeof flags.topic === 'string' ? flags.topic : config.topics.raw;

  const texts: string[] = [];
  let skipped = 0;
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (line.trim() === '') skipped++;
    else texts.push(line);
  }

  await codec.registerAll();
  // The services' own producer: idempotent, acks=all, and complete (sendEvery) when a leader moves.
  const producer = new KafkaProducerAdapter(kafka);
  await producer.connect();
  const ids: string[] = [];
  try {
    for (let i = 0; i < texts.length; i += batchSize) {
      const records: RawText[] = texts.slice(i, i + batchSize).map((text) => ({
        id: randomUUID(),
        text,
        createdAt: Date.now(),
        source: 'produce-cli',
        metadata: { file },
      }));
      await producer.send(
        topic,
        records.map((r) => ({ key: r.id, value: codec.encode('raw', r) })),
      );
      ids.push(...records.map((r) => r.id));
      progress(ids.length, texts.length);
    }
  } finally {
    await producer.disconnect();
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  if (typeof flags['ids-out'] === 'string') writeFileSync(flags['ids-out'], ids.join('\n') + '\n');
  process.stderr.write(
    `produced ${ids.length} records to ${topic}${skipped ? ` (skipped ${skipped} blank lines)` : ''}\n`,
  );
}

main().catch((error) => fail(error instanceof Error ? error.message : String(error)));
