// npm run consume -- TOPIC [--from-beginning] [--max N] [--idle-exit-ms MS] [--isolation read_committed|read_uncommitted]
// Prints each record of TOPIC as one JSON line: decoded Avro for the pipeline topics,
// key, headers and base64 value for DLQ topics. --isolation read_committed (the default) shows only
// records of committed transactions (what exactly-once stages write); read_uncommitted shows aborted ones too.
import { readDlqHeaders } from '@app/kafka';
import { randomUUID } from 'node:crypto';
import { cliContext, fail, parseArgs } from './cli-context';

async function main(): Promise<void> {
  const { positional, flags } = parseArgs(process.argv.slice(2));
  const topic =
    positional[0] ??
    fail(
      'usage: npm run consume -- TOPIC [--from-beginning] [--max N] [--idle-exit-ms MS] [--isolation read_committed|read_uncommitted]',
    );
  const isolation = flags.isolation ?? 'read_committed';
  if (isolation !== 'read_committed' && isolation !== 'read_uncommitted')
    fail(`--isolation must be read_committed or read_uncommitted, got "${String(isolation)}"`);
  const max = flags.max ? Number(flags.max) : Infinity;
  const idleExitMs = flags['idle-exit-ms'] ? Number(flags['idle-exit-ms']) : 0;
  const { kafka, codec, kindOf } = cliContext('consume');
  const kind = kindOf(topic);

  const consumer = kafka.consumer({
    groupId: `consume-cli-${randomUUID()}`,
    readUncommitted: isolation === 'read_uncommitted',
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: flags['from-beginning'] === true });
  let count = 0;
  let lastSeen = Date.now();
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ message, partition }) => {
      if (count >= max) return;
      lastSeen = Date.now();
      const base = { topic, partition, offset: message.offset, key: message.key?.toString() ?? null };
      let line: object;
      if (kind) {
        try {
          line = { ...base, value: await codec.decode(kind, message.value) };
        } catch (error) {
          line = { ...base, error: `${(error as Error).name}: ${(error as Error).message}` };
        }
      } else {
        line = { ...base, headers: readDlqHeaders(message.headers), value: message.value?.toString('base64') ?? null };
      }
      process.stdout.write(JSON.stringify(line) + '\n');
      if (++count >= max) finish();
    },
  });
  const stop = () => finish();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const idle = idleExitMs
    ? setInterval(() => Date.now() - lastSeen > idleExitMs && finish(), Math.min(idleExitMs, 500))
    : undefined;
  await finished;
  clearInterval(idle);
  await consumer.disconnect();
  process.stderr.write(`consumed ${count} records from ${topic}\n`);
}

main().catch((error) => fail(error instanceof Error ? error.message : String(error)));
