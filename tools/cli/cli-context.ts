import { AvroCodec, RecordKind, SchemaRegistryAdapter } from '@app/avro';
import { AppConfig, loadConfig } from '@app/config';
import { createKafka } from '@app/kafka';
import { logLevel } from 'kafkajs';

/** What both CLIs need: the validated config, a kafkajs client and the codec. */
export function cliContext(clientSuffix: string) {
  const config: AppConfig = loadConfig();
  const kafka = createKafka(
    config.kafka.brokers,
    `${config.kafka.clientId}-${clientSuffix}`,
    logLevel.ERROR,
    config.kafka.security,
  );
  const codec = new AvroCodec(SchemaRegistryAdapter.fromConfig(config.registry), {
    raw: config.topics.raw,
    tokenized: config.topics.tokenized,
    prediction: config.topics.predictions,
  });
  const kindOf = (topic: string): RecordKind | undefined =>
    ({ [config.topics.raw]: 'raw', [config.topics.tokenized]: 'tokenized', [config.topics.predictions]: 'prediction' })[
      topic
    ] as RecordKind | undefined;
  return { config, kafka, codec, kindOf };
}

/** Tiny flag parser: --name value, --flag, and positionals. */
export function parseArgs(argv: string[]): { positional: string[]; flags: Record<string, string | true> } {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.startsWith('--')) {
      const [name, inline] = arg.slice(2).split('=', 2);
      if (inline !== undefined) flags[name] = inline;
      else if (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) flags[name] = argv[++i];
      else flags[name] = true;
    } else positional.push(arg);
  }
  return { positional, flags };
}

export function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}
