import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileMemberLedger } from './member-ledger';

describe('FileMemberLedger', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'member-ledger-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const running = (pids: number[]) => (pid: number) => pids.includes(pid);

  it('hands the next process the member id the last one recorded', () => {
    const first = new FileMemberLedger(dir, 'stage-g', 'host-a', 100, running([100]));
    expect(first.previous()).toBeUndefined();
    first.remember('member-1');
    // The first process was killed: its pid no longer runs.
    const next = new FileMemberLedger(dir, 'stage-g', 'host-a', 200, running([200]));
    expect(next.previous()).toBe('member-1');
    next.remember('member-2');
    expect(new FileMemberLedger(dir, 'stage-g', 'host-a', 300, running([300])).previous()).toBe('member-2');
  });

  it("never hands over a live replica's member id: a second process of the same instance takes another slot", () => {
    new FileMemberLedger(dir, 'g', 'host-a', 100, running([100, 200])).remember('live-member');
    const second = new FileMemberLedger(dir, 'g', 'host-a', 200, running([100, 200]));
    expect(second.previous()).toBeUndefined();
    second.remember('second-member');
    expect(readdirSync(dir).sort()).toEqual(['g.host-a.0.json', 'g.host-a.1.json']);
    // The second one is killed and restarted; the first still runs.
    const third = new FileMemberLedger(dir, 'g', 'host-a', 300, running([100, 300]));
    expect(third.previous()).toBe('second-member');
  });

  it("treats an entry with its own pid as a former process's (a container restarted as pid 1)", () => {
    new FileMemberLedger(dir, 'g', 'pod-0', 1, running([1])).remember('before-restart');
    expect(new FileMemberLedger(dir, 'g', 'pod-0', 1, running([1])).previous()).toBe('before-restart');
  });

  it('keeps groups and instance ids apart, and ignores an unreadable file', () => {
    new FileMemberLedger(dir, 'g1', 'host-a', 100, running([])).remember('m-g1');
    expect(new FileMemberLedger(dir, 'g2', 'host-a', 101, running([])).previous()).toBeUndefined();
    expect(new FileMemberLedger(dir, 'g1', 'host-b', 102, running([])).previous()).toBeUndefined();
    writeFileSync(join(dir, 'g3.host-a.0.json'), '{not json');
    expect(new FileMemberLedger(dir, 'g3', 'host-a', 103, running([])).previous()).toBeUndefined();
  });
});
