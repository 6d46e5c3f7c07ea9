'use strict';
/* global LineChart */
// Polls GET /v1/status (each service's readiness and metrics, read by the gateway) and draws rates
// from the difference between two polls, as Prometheus's rate() and histogram_quantile() would.
const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);

const charts = {
  rate: new LineChart($('c-rate'), [{ label: 'texts/s', color: '#2563eb' }]),
  latency: new LineChart($('c-latency'), [
    { label: 'p50', color: '#16a34a' },
    { label: 'p99', color: '#dc2626' },
  ]),
  batch: new LineChart($('c-batch'), [{ label: 'mean batch size', color: '#7c3aed' }]),
  efficiency: new LineChart($('c-efficiency'), [{ label: 'real ÷ padded tokens', color: '#0891b2' }]),
  queue: new LineChart($('c-queue'), [
    { label: 'queue depth', color: '#ea580c' },
    { label: 'lag', color: '#6b7280' },
  ]),
};

/** Sum of the samples named `name` with these labels. */
function sum(samples, name, match = {}) {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

/** Cumulative bucket counts of a histogram, by upper bound. */
function buckets(samples, name) {
  const out = new Map();
  for (const s of samples) if (s.name === `${name}_bucket`) out.set(s.labels.le, (out.get(s.labels.le) ?? 0) + s.value);
  return out;
}

/** histogram_quantile over the observations between two polls (linear within a bucket). */
function quantile(q, before, after) {
  const bounds = [...after.keys()].sort((a, b) => (a === '+Inf' ? 1 : b === '+Inf' ? -1 : Number(a) - Number(b)));
  const counts = bounds.map((le) => after.get(le) - (before.get(le) ?? 0));
  const total = counts[counts.length - 1];
  if (!total) return null;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i] >= rank) {
      if (bounds[i] === '+Inf') return Number(bounds[i - 1] ?? 0);
      const lower = i === 0 ? 0 : Number(bounds[i - 1]);
      const below = i === 0 ? 0 : counts[i - 1];
      const inBucket = counts[i] - below;
      return lower + (Number(bounds[i]) - lower) * (inBucket ? (rank - below) / inBucket : 0);
    }
  }
  return null;
}

let previous;

function setState(part, state, title) {
  const li = document.querySelector(`[data-part="${part}"]`);
  li.dataset.state = state;
  li.title = title;
}

function show(status) {
  setState('kafka', status.kafka, `Kafka: ${status.kafka}`);
  setState('registry', status.registry, `schema registry: ${status.registry}`);
  for (const [name, s] of Object.entries(status.services)) {
    const state = s.ready ? 'up' : s.up ? 'degraded' : 'down';
    setState(name, state, `${name} (${s.url}): ${s.up ? (s.ready ? 'ready' : 'not ready') : 'unreachable'}`);
  }
  $('checks').textContent = Object.entries(status.services)
    .map(([name, s]) => `${name}  ${s.up ? (s.ready ? 'ready' : 'NOT READY') : 'UNREACHABLE'}  ${JSON.stringify(s.checks)}`)
    .join('\n');
  $('updated').textContent = `updated ${new Date(status.time).toLocaleTimeString()}`;

  const inf = status.metrics.inference;
  if (inf === null) {
    // Unreadable this time (the service is down or slow): a gap, never a fake zero.
    for (const chart of Object.values(charts)) chart.push(chart.series.map(() => null));
    $('v-queue').textContent = 'metrics unavailable';
    return;
  }
  const all = [...(status.metrics.preprocessor ?? []), ...inf, ...(status.metrics.gateway ?? [])];
  const depth = sum(inf, 'stage_queue_depth');
  const lag = sum(all, 'kafka_consumer_lag');
  const now = {
    time: status.time,
    out: sum(inf, 'stage_records_out_total', { stage: 'inference' }),
    e2e: buckets(inf, 'pipeline_end_to_end_seconds'),
    batchSum: sum(inf, 'batch_size_sum'),
    batchCount: sum(inf, 'batch_size_count'),
    real: sum(inf, 'batch_real_tokens_sum'),
    padded: sum(inf, 'batch_padded_tokens_sum'),
  };
  if (previous && now.time > previous.time && now.out >= previous.out) {
    const seconds = (now.time - previous.time) / 1000;
    const rate = (now.out - previous.out) / seconds;
    const p50 = quantile(0.5, previous.e2e, now.e2e);
    const p99 = quantile(0.99, previous.e2e, now.e2e);
    const batches = now.batchCount - previous.batchCount;
    const meanBatch = batches > 0 ? (now.batchSum - previous.batchSum) / batches : null;
    const padded = now.padded - previous.padded;
    const efficiency = padded > 0 ? (100 * (now.real - previous.real)) / padded : null;
    charts.rate.push([rate]);
    charts.latency.push([p50 === null ? null : p50 * 1000, p99 === null ? null : p99 * 1000]);
    charts.batch.push([meanBatch]);
    charts.efficiency.push([efficiency]);
    $('v-rate').textContent = rate.toFixed(1);
    $('v-latency').textContent = p50 === null ? '' : `${(p50 * 1000).toFixed(0)} / ${(p99 * 1000).toFixed(0)}`;
    $('v-batch').textContent = meanBatch === null ? '' : meanBatch.toFixed(1);
    $('v-efficiency').textContent = efficiency === null ? '' : `${efficiency.toFixed(0)}%`;
  }
  charts.queue.push([depth, lag]);
  $('v-queue').textContent = `${depth} / ${lag}`;
  previous = now;
}

async function poll() {
  try {
    const res = await fetch('/v1/status', { cache: 'no-store' });
    if (res.ok) show(await res.json());
    else for (const part of ['kafka', 'registry', 'gateway']) setState(part, 'down', `status answered ${res.status}`);
  } catch {
    setState('gateway', 'down', 'the gateway does not answer');
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function showPrediction(body) {
  $('category').textContent = body.category;
  $('score').textContent = `${(body.score * 100).toFixed(1)}%`;
  const bars = $('scores');
  bars.replaceChildren();
  // Every label the model answered with, highest first: nothing here knows the model's labels.
  for (const [label, score] of Object.entries(body.scores).sort((a, b) => b[1] - a[1])) {
    const name = document.createElement('span');
    name.textContent = label;
    const track = document.createElement('div');
    track.className = 'bar-track';
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.style.width = `${Math.max(0, Math.min(100, score * 100))}%`;
    track.append(bar);
    const value = document.createElement('span');
    value.className = 'muted';
    value.textContent = `${(score * 100).toFixed(1)}%`;
    bars.append(name, track, value);
  }
  const t = body.timings ?? {};
  $('result-meta').textContent = `model ${body.model} ${body.modelVersion ?? ''} · batch of ${body.batchSize} · ${
    t.predictedAt && t.createdAt ? `${t.predictedAt - t.createdAt} ms end to end` : ''
  }`;
  $('result').hidden = false;
}

$('try-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('text').value;
  $('error').hidden = true;
  $('classify').disabled = true;
  try {
    const res = await fetch('/predict', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text }),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(`${res.status} ${body.error ?? ''}: ${body.message ?? ''}`);
    showPrediction(body);
  } catch (error) {
    $('error').textContent = error.message;
    $('error').hidden = false;
  } finally {
    $('classify').disabled = false;
  }
});

void poll();
