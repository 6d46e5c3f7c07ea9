// Creates the pipeline topics and the least-privilege ACLs on the secure local broker, as the
// admin principal (infra.sh up --secure runs it; run it again after changing TOPIC_* names).
//   gateway:      write raw, read replies (its sync answers), groups <prefix>gateway-*
//   preprocessor: read raw, write tokenized and raw.dlq, group <prefix>preprocessor
//   inference:    read tokenized, write predictions, replies and tokenized.dlq, group <prefix>inference
// Every service may describe the pipeline topics (to find them at boot); nobody else gets anything.
'use strict';
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { Kafka, logLevel, AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } =
  require('kafkajs');

const dir = process.env.SECURE_DIR;
if (!dir) throw new Error('SECURE_DIR must name the folder of ca.pem and admin.password');
const topic = (name, fallback) => process.env[name] || fallback;
const raw = topic('TOPIC_RAW', 'raw');
const tokenized = topic('TOPIC_TOKENIZED', 'tokenized');
const predictions = topic('TOPIC_PREDICTIONS', 'predictions');
const replies = topic('REPLY_TOPIC', 'replies');
const prefix = process.env.KAFKA_GROUP_ID_PREFIX || '';
const partitions = Number(process.env.TOPIC_PARTITIONS || 3);
const replyPartitions = Number(process.env.REPLY_PARTITIONS || 16);
const all = [raw, tokenized, predictions, `${raw}.dlq`, `${tokenized}.dlq`, `${predictions}.dlq`, replies];

const { TOPIC, GROUP } = AclResourceTypes;
const { READ, WRITE, DESCRIBE } = AclOperationTypes;
const acl = (user, resourceType, resourceName, operation, pattern = ResourcePatternTypes.LITERAL) => ({
  resourceType,
  resourceName,
  resourcePatternType: pattern,
  principal: `User:${user}`,
  host: '*',
  operation,
  permissionType: AclPermissionTypes.ALLOW,
});

const acls = [
  ...['gateway', 'preprocessor', 'inference'].flatMap((user) => all.map((t) => acl(user, TOPIC, t, DESCRIBE))),
  acl('gateway', TOPIC, raw, WRITE),
  acl('gateway', TOPIC, replies, READ),
  acl('gateway', GROUP, `${prefix}gateway-`, READ, ResourcePatternTypes.PREFIXED),
  acl('preprocessor', TOPIC, raw, READ),
  acl('preprocessor', TOPIC, tokenized, WRITE),
  acl('preprocessor', TOPIC, `${raw}.dlq`, WRITE),
  acl('preprocessor', GROUP, `${prefix}preprocessor`, READ),
  acl('inference', TOPIC, tokenized, READ),
  acl('inference', TOPIC, predictions, WRITE),
  acl('inference', TOPIC, replies, WRITE),
  acl('inference', TOPIC, `${tokenized}.dlq`, WRITE),
  acl('inference', GROUP, `${prefix}inference`, READ),
];

async function main() {
  const kafka = new Kafka({
    clientId: 'infra-secure-setup',
    brokers: (process.env.KAFKA_BROKERS || 'localhost:9092').split(','),
    ssl: { ca: [readFileSync(join(dir, 'ca.pem'), 'utf8')] },
    // PLAIN for the docker-compose broker (no SCRAM users there); SCRAM-SHA-512 for infra.sh's.
    sasl: {
      mechanism: process.env.SECURE_SASL_MECHANISM || 'scram-sha-512',
      username: 'admin',
      password: readFileSync(join(dir, 'admin.password'), 'utf8').trim(),
    },
    logLevel: logLevel.ERROR,
    retry: { retries: 5 },
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = all.filter((t) => !existing.has(t));
    if (wanted.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: wanted.map((t) => ({
          topic: t,
          numPartitions: t === replies ? replyPartitions : t.endsWith('.dlq') ? 1 : partitions,
          replicationFactor: 1,
        })),
      });
    }
    await admin.createAcls({ acl: acls });
    console.log(`[infra] secure: topics ${all.join(', ')}; ${acls.length} ACLs for gateway, preprocessor, inference`);
  } finally {
    await admin.disconnect();
  }
}

main().catch((error) => {
  console.error(`[infra] secure setup failed: ${error.message}`);
  process.exit(1);
});
