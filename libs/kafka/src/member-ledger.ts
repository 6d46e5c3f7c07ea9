import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where a consumer remembers its group member id, so that the next process in its place can remove
 * that member from the group before joining (docs/ARCHITECTURE.md, "Restarts").
 */
export interface MemberLedger {
  /** The member id the previous holder of this place left behind, if any. */
  previous(): string | undefined;
  /** Records the member id this process has now. */
  remember(memberId: string): void;
}

interface Entry {
  pid: number;
  memberId?: string;
}

/** How many processes of one instance id on one host may keep a place each (replicas started side by side). */
const MAX_SLOTS = 64;

/**
 * A MemberLedger in small JSON files under `dir`, one per group, instance id and slot. A process takes
 * the first slot whose recorded process is gone (its pid no longer runs, or is its own), so that two
 * live replicas of one instance id never take each other's place; it reads the member id left there
 * before writing its own pid over it.
 */
export class FileMemberLedger implements MemberLedger {
  private readonly file: string;
  private readonly left?: string;

  constructor(
    dir: string,
    groupId: string,
    instanceId: string,
    private readonly pid: number = process.pid,
    isRunning: (pid: number) => boolean = processIsRunning,
  ) {
    mkdirSync(dir, { recursive: true });
    const base = `${safe(groupId)}.${safe(instanceId)}`;
    for (let slot = 0; ; slot++) {
      const file = join(dir, `${base}.${slot}.json`);
      const entry = readEntry(file);
      if (!entry || entry.pid === pid || !isRunning(entry.pid) || slot === MAX_SLOTS - 1) {
        this.file = file;
        // Even an entry with this pid is a former process's (a container restarted as pid 1 again):
        // this process writes its own only from here on.
        this.left = entry?.memberId;
        break;
      }
    }
    this.write({ pid });
  }

  previous(): string | undefined {
    return this.left;
  }

  remember(memberId: string): void {
    this.write({ pid: this.pid, memberId });
  }

  private write(entry: Entry): void {
    // Written whole, then renamed: a kill -9 mid-write leaves the old entry, never half of one.
    const tmp = `${this.file}.${this.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(entry));
    renameSync(tmp, this.file);
  }
}

function readEntry(file: string): Entry | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<Entry>;
    if (typeof parsed.pid !== 'number') return undefined;
    return { pid: parsed.pid, memberId: typeof parsed.memberId === 'string' ? parsed.memberId : undefined };
  } catch {
    return undefined;
  }
}

function processIsRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
