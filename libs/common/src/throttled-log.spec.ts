import { ThrottledLog } from './throttled-log';

describe('ThrottledLog', () => {
  it('writes one line per window and counts the ones it held back', () => {
    let t = 0;
    const lines: string[] = [];
    const log = new ThrottledLog(
      (l) => lines.push(l),
      1_000,
      () => t,
    );
    log.log('bad 1');
    log.log('bad 2');
    log.log('bad 3');
    t = 1_500;
    log.log('bad 4');
    expect(lines).toEqual(['bad 1', 'bad 4 (and 2 more like it since the last such line)']);
  });
});
