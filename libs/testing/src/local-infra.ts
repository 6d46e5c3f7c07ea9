import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, ROOT } from './service-process';
import { waitFor } from './wait-for';

const run = promisify(execFile);

/** True if nothing listens on localhost:port. */
function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const server = createServer();
    server.once('error', () => res(false));
    server.listen(port, () => server.close(() => res(true)));
  });
}

/** `count` consecutive free ports (a cluster's nodes take KAFKA_PORT + 2i and the controller port + 2i). */
async function freePortBlock(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = await freePort();
    if (base + count > 65_535) continue;
    const rest = await Promise.all(Array.from({ length: count - 1 }, (_, i) => portFree(base + 1 + i)));
    if (rest.every(Boolean)) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

/**
 * A private Kafka + registry, started by the project's own infra/infra.sh on free ports under its own
 * folder. Fault tests kill and restart these servers; doing that to the shared instance would break
 * every other suite (and the registry, whose schemas live in that Kafka).
 */
export class LocalInfra {
  private constructor(
    readonly dir: string,
    private readonly ports: { kafka: number; controller: number; registry: number; mgmt: number },
    /** Kafka nodes: 1 (a single broker) or a replicated cluster (`infra.sh up --brokers N`). */
    readonly brokerCount = 1,
  ) {}

  /**
   * Servers on fresh free ports under .e2e/infra-<name>. The folder is kept between runs for its
   * downloaded jars (~200 MB); its Kafka data is wiped, since the ports it was formatted for change.
   */
  static async allocate(name: string, options: { brokers?: number } = {}): Promise<LocalInfra> {
    const brokerCount = options.brokers ?? 1;
    const base = brokerCount > 1 ? await freePortBlock(2 * brokerCount) : undefined;
    const ports = {
      kafka: base ?? (await freePort()),
      controller: base !== undefined ? base + 1 : await freePort(),
      registry: await freePort(),
      mgmt: await freePort(),
    };
    const dir = join(ROOT, '.e2e', `infra-${name}`);
    for (const stale of [
      'kafka/data',
      'kafka/cluster.id',
      'kafka/kafka.pid',
      'kafka/cluster',
      'apicurio/apicurio.pid',
    ]) {
      rmSync(join(dir, stale), { recursive: true, force: true });
    }
    return new LocalInfra(dir, ports, brokerCount);
  }

  /** What the services and clients need to reach these servers. */
  get env(): Record<string, string> {
    return {
      KAFKA_BROKERS: this.brokers.join(','),
      SCHEMA_REGISTRY_URL: `http://localhost:${this.ports.registry}/apis/ccompat/v7`,
    };
  }

  get brokers(): string[] {
    return Array.from({ length: this.brokerCount }, (_, i) => `localhost:${this.ports.kafka + 2 * i}`);
  }

  get registryUrl(): string {
    return this.env.SCHEMA_REGISTRY_URL;
  }

  /** `infra.sh up`: starts whatever of the two is not running. Idempotent, as for users. */
  async up(): Promise<void> {
    // A broker restarted right after a kill -9 can fail its first start (its old registration not yet
    // expired); `up` is idempotent, so try again a few times before failing the test.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.script('up');
        return;
      } catch (error) {
        if (attempt >= 3) throw error;
        await new Promise((resolve) => setTimeout(resolve, 3_000));
      }
    }
  }

  async down(): Promise<void> {
    await this.script('down');
  }

  /**
   * kill -9 of a broker, as a crash or an OOM kill would do it: the only one, or node `nodeId`
   * (1-based, as Kafka's node.id) of a cluster. `up()` starts it again.
   */
  async killBroker(nodeId = 1): Promise<void> {
    const pidFile =
      this.brokerCount > 1
        ? join(this.dir, 'kafka', 'cluster', `node-${nodeId}`, 'kafka.pid')
        : join(this.dir, 'kafka', 'kafka.pid');
    await this.kill(pidFile);
  }

  async killRegistry(): Promise<void> {
    await this.kill(join(this.dir, 'apicurio', 'apicurio.pid'));
  }

  private async kill(pidFile: string): Promise<void> {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    process.kill(pid, 'SIGKILL');
    await waitFor(
      () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      },
      { timeoutMs: 10_000, description: `pid ${pid} gone` },
    );
  }

  private async script(command: 'up' | 'down'): Promise<void> {
    await run('bash', [join(ROOT, 'infra', 'infra.sh'), command], {
      env: {
        ...process.env,
        INFRA_DIR: this.dir,
        KAFKA_PORT: String(this.ports.kafka),
        KAFKA_CONTROLLER_PORT: String(this.ports.controller),
        APICURIO_PORT: String(this.ports.registry),
        APICURIO_MGMT_PORT: String(this.ports.mgmt),
        KAFKA_BROKER_COUNT: String(this.brokerCount),
        // A cluster's three JVMs share the machine with the services under test.
        ...(this.brokerCount > 1 ? { KAFKA_HEAP_OPTS: process.env.KAFKA_HEAP_OPTS ?? '-Xms128m -Xmx384m' } : {}),
      },
      maxBuffer: 16 * 1024 * 1024,
    });
  }
}
