import { Injectable } from '@nestjs/common';

interface Summary {
  count: number;
  sum: number;
}

/**
 * Counters, gauges and sums in the Prometheus text format. Deliberately tiny: a service's
 * /metrics is for operators and the benchmark, not a full client library.
 */
@Injectable()
export class MetricsService {
  private readonly counters = new Map<string, number>();
  private readonly gauges = new Map<string, () => number>();
  private readonly summaries = new Map<string, Summary>();

  inc(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  observe(name: string, value: number): void {
    const s = this.summaries.get(name) ?? { count: 0, sum: 0 };
    s.count += 1;
    s.sum += value;
    this.summaries.set(name, s);
  }

  gauge(name: string, read: () => number): void {
    this.gauges.set(name, read);
  }

  counter(name: string): number {
    return this.counters.get(name) ?? 0;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, value] of this.counters) lines.push(`# TYPE ${name} counter`, `${name} ${value}`);
    for (const [name, read] of this.gauges) lines.push(`# TYPE ${name} gauge`, `${name} ${read()}`);
    for (const [name, s] of this.summaries) {
      lines.push(`# TYPE ${name} summary`, `${name}_count ${s.count}`, `${name}_sum ${s.sum}`);
    }
    const mem = process.memoryUsage();
    lines.push('# TYPE process_resident_memory_bytes gauge', `process_resident_memory_bytes ${mem.rss}`);
    return lines.join('\n') + '\n';
  }
}
