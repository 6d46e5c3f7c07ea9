import { MetricsService } from './metrics.service';

const lines = (text: string) => text.split('\n');

describe('MetricsService', () => {
  it('counts', () => {
    const metrics = new MetricsService();
    expect(metrics.counter('records_total')).toBe(0);
    metrics.inc('records_total');
    metrics.inc('records_total', 4);
    expect(metrics.counter('records_total')).toBe(5);
  });

  it('renders counters, gauges and summaries in the Prometheus text format', () => {
    const metrics = new MetricsService();
    metrics.inc('raw_records_total', 3);
    metrics.inc('dlq_records_total');
    let inFlight = 2;
    metrics.gauge('batches_in_flight', () => inFlight);
    metrics.observe('batch_seconds', 0.25);
    metrics.observe('batch_seconds', 0.5);

    const text = metrics.render();
    expect(text.endsWith('\n')).toBe(true);
    const out = lines(text);
    const after = (header: string) => out[out.indexOf(header) + 1];
    expect(after('# TYPE raw_records_total counter')).toBe('raw_records_total 3');
    expect(after('# TYPE dlq_records_total counter')).toBe('dlq_records_total 1');
    expect(after('# TYPE batches_in_flight gauge')).toBe('batches_in_flight 2');
    const summary = out.indexOf('# TYPE batch_seconds summary');
    expect(out.slice(summary + 1, summary + 3)).toEqual(['batch_seconds_count 2', 'batch_seconds_sum 0.75']);

    // A gauge is read at render time.
    inFlight = 7;
    expect(lines(metrics.render())).toContain('batches_in_flight 7');
  });

  it('always renders the process resident memory', () => {
    const out = lines(new MetricsService().render());
    expect(out).toContain('# TYPE process_resident_memory_bytes gauge');
    expect(out.find((l) => l.startsWith('process_resident_memory_bytes '))).toMatch(
      /^process_resident_memory_bytes \d+$/,
    );
  });

  it('renders only well-formed lines: a # TYPE comment or "<name> <number>"', () => {
    const metrics = new MetricsService();
    metrics.inc('a_total');
    metrics.gauge('b', () => 1.5);
    metrics.observe('c_seconds', 3);
    const body = metrics.render().trimEnd();
    for (const line of lines(body)) {
      expect(line).toMatch(
        /^(# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|summary)|[a-zA-Z_:][a-zA-Z0-9_:]* -?[0-9.e+-]+)$/,
      );
    }
  });

  it('a re-registered gauge replaces the old reader', () => {
    const metrics = new MetricsService();
    metrics.gauge('queue_depth', () => 1);
    metrics.gauge('queue_depth', () => 9);
    const out = lines(metrics.render());
    expect(out.filter((l) => l.startsWith('queue_depth '))).toEqual(['queue_depth 9']);
  });
});
