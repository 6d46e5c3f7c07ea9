#!/usr/bin/env node
// Container health check without curl: `node deploy/docker/healthcheck.js <service> [path]`.
// Reads the service's own port variable (GATEWAY_PORT, PREPROCESSOR_PORT, INFERENCE_PORT) and, for a
// gateway with API keys, sends the first key, since its /health/ready asks for one.
'use strict';
const { readFileSync } = require('node:fs');

const PORTS = { gateway: ['GATEWAY_PORT', 3000], preprocessor: ['PREPROCESSOR_PORT', 3001], inference: ['INFERENCE_PORT', 3002] };
const [service, path = '/health/ready'] = process.argv.slice(2);
if (!PORTS[service]) {
  console.error(`usage: healthcheck.js <${Object.keys(PORTS).join('|')}> [path]`);
  process.exit(2);
}
const [portVar, defaultPort] = PORTS[service];
const port = Number(process.env[portVar] || defaultPort);

function firstApiKey() {
  const file = process.env.GATEWAY_API_KEYS_FILE;
  const text = file ? readFileSync(file, 'utf8') : process.env.GATEWAY_API_KEYS || '';
  return text
    .split(/[\n,]/)
    .map((line) => line.replace(/#.*/, '').trim())
    .find(Boolean);
}

const headers = {};
const key = service === 'gateway' ? firstApiKey() : undefined;
if (key) headers.authorization = `Bearer ${key}`;

fetch(`http://127.0.0.1:${port}${path}`, { headers, signal: AbortSignal.timeout(2500) }).then(
  (res) => process.exit(res.ok ? 0 : 1),
  (err) => {
    console.error(`healthcheck: ${err.message}`);
    process.exit(1);
  },
);
