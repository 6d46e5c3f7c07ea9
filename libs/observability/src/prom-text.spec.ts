import { MetricsService } from './metrics.service';
import { parsePromText, sumOf } from './prom-text';

describe('parsePromText', () => {
  it('reads names, labels and values, skipping comments', () => {
    const samples = parsePromText(
      [
        '# HELP a_total A.',
        '# TYPE a_total counter',
        'a_total{stage="x",reason="Bad \\"q\\""} 3',
        'a_total{stage="y",reason="r"} 4',
        'b 1.5e3',
        'c_bucket{le="+Inf"} 2',
      ].join('\n'),
    );
    expect(samples).toEqual([
      { name: 'a_total', labels: { stage: 'x', reason: 'Bad "q"' }, value: 3 },
      { name: 'a_total', labels: { stage: 'y', reason: 'r' }, value: 4 },
      { name: 'b', labels: {}, value: 1500 },
      { name: 'c_bucket', labels: { le: '+Inf' }, value: 2 },
    ]);
    expect(sumOf(samples, 'a_total')).toBe(7);
    expect(sumOf(samples, 'a_total', { stage: 'y' })).toBe(4);
  });

  it('round-trips what prom-client renders', async () => {
    const metrics = new MetricsService();
    metrics.batchSize.observe({ stage: 'inference' }, 8);
    const samples = parsePromText(await metrics.render());
    expect(sumOf(samples, 'batch_size_sum', { stage: 'inference' })).toBe(8);
    expect(sumOf(samples, 'batch_size_bucket', { stage: 'inference', le: '8' })).toBe(1);
  });
});
