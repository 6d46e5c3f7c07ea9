import { Counter, Registry } from 'prom-client';
import { WarningLimiter } from './warning-limiter';

describe('WarningLimiter', () => {
  const setup = () => {
    let now = 0;
    const lines: Record<string, unknown>[] = [];
    const registry = new Registry();
    const suppressed = new Counter({ name: 's_total', help: 's', labelNames: ['reason'], registers: [registry] });
    const limiter = new WarningLimiter(
      { warn: (line: Record<string, unknown>) => lines.push(line) },
      { perWindow: 2, windowMs: 1000, now: () => now, suppressed },
    );
    return { limiter, lines, suppressed, advance: (ms: number) => (now += ms) };
  };

  it('logs at most perWindow lines per reason and counts the rest', async () => {
    const { limiter, lines, suppressed } = setup();
    for (let i = 0; i < 5; i++) limiter.warn('bad-avro', { msg: `junk ${i}` });
    limiter.warn('too-long', { msg: 'other reason' });
    expect(lines.map((l) => l.msg)).toEqual(['junk 0', 'junk 1', 'other reason']);
    expect((await suppressed.get()).values).toEqual([{ labels: { reason: 'bad-avro' }, value: 3 }]);
  });

  it('says how many were suppressed on the first line of the next window', () => {
    const { limiter, lines, advance } = setup();
    for (let i = 0; i < 4; i++) limiter.warn('bad-avro', { msg: `junk ${i}` });
    advance(1000);
    limiter.warn('bad-avro', { msg: 'later' });
    expect(lines.at(-1)).toEqual({ reason: 'bad-avro', msg: 'later', suppressed: 2 });
    limiter.warn('bad-avro', { msg: 'again' });
    expect(lines.at(-1)).toEqual({ reason: 'bad-avro', msg: 'again' });
  });
});
