import { MetricsService } from './metrics.service';

/** `# TYPE name type` of every metric family in a Prometheus text body. */
const types = (text: string) =>
  Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.startsWith('# TYPE '))
      .map((l) => l.slice(7).split(' ') as [string, string]),
  );

describe('MetricsService (prom-client)', () => {
  it('exposes the process and Node runtime default metrics', async () => {
    const t = types(await new MetricsService().render());
    expect(t.process_resident_memory_bytes).toBe('gauge');
    expect(t.process_cpu_seconds_total).toBe('counter');
    expect(t.nodejs_eventloop_lag_seconds).toBe('gauge');
    expect(t.nodejs_heap_size_used_bytes).toBe('gauge');
  });

  it('types every pipeline metric correctly and gives each a HELP line', async () => {
    const metrics = new MetricsService();
    const text = await metrics.render();
    const t = types(text);
    expect(t).toMatchObject({
      stage_records_in_total: 'counter',
      stage_records_out_total: 'counter',
      stage_records_dead_lettered_total: 'counter',
      stage_latency_seconds: 'histogram',
      pipeline_end_to_end_seconds: 'histogram',
      batch_size: 'histogram',
      batch_real_tokens: 'histogram',
      batch_padded_tokens: 'histogram',
      model_run_seconds: 'histogram',
      http_request_duration_seconds: 'histogram',
      stage_queue_depth: 'gauge',
      stage_paused_partitions: 'gauge',
      kafka_consumer_lag: 'gauge',
    });
    for (const name of Object.keys(t)) expect(text).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
  });

  it('renders histograms with cumulative buckets that fit the measured range', async () => {
    const metrics = new MetricsService();
    for (const s of [0.02, 0.07, 0.3, 4]) metrics.endToEnd.observe(s);
    const text = await metrics.render();
    expect(text).toContain('pipeline_end_to_end_seconds_bucket{le="0.025"} 1');
    expect(text).toContain('pipeline_end_to_end_seconds_bucket{le="0.1"} 2');
    expect(text).toContain('pipeline_end_to_end_seconds_bucket{le="0.5"} 3');
    expect(text).toContain('pipeline_end_to_end_seconds_bucket{le="5"} 4');
    expect(text).toContain('pipeline_end_to_end_seconds_bucket{le="+Inf"} 4');
    expect(text).toContain('pipeline_end_to_end_seconds_count 4');
  });

  it('reads collected gauges at scrape time; a re-registered reader replaces the old one', async () => {
    const metrics = new MetricsService();
    let depth = 2;
    metrics.collect(metrics.queueDepth, 'inference', () => depth);
    expect(await metrics.render()).toContain('stage_queue_depth{stage="inference"} 2');
    depth = 7;
    expect(await metrics.render()).toContain('stage_queue_depth{stage="inference"} 7');
    metrics.collect(metrics.queueDepth, 'inference', () => 9);
    expect(await metrics.render()).toContain('stage_queue_depth{stage="inference"} 9');
  });

  it('keeps each instance in its own registry', async () => {
    const a = new MetricsService();
    const b = new MetricsService();
    a.recordsIn.inc({ stage: 'x' }, 3);
    expect(await a.render()).toContain('stage_records_in_total{stage="x"} 3');
    expect(await b.render()).not.toContain('stage_records_in_total{stage="x"}');
  });
});
