import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, ROOT } from './service-process';
import { waitFor } from './wait-for';

const run = promisify(execFile);

/**
 * A private Kafka + registry, started by the project's own infra/infra.sh on free ports under its own
 * folder. Fault tests kill and restart these servers; doing that to the shared instance would break
 * every other suite (and the registry, whose schemas live in that Kafka).
 */
export class LocalInfra {
  private constructor(
    readonly dir: string,
    private readonly ports: { kafka: number; controller: number; registry: number; mgmt: number },
  ) {}

  /**
   * Servers on fresh free ports under .e2e/infra-<name>. The folder is kept between runs for its
   * downloaded jars (~200 MB); its Kafka data is wiped, since the ports it was formatted for change.
   */
  static async allocate(name: string): Promise<LocalInfra> {
    const ports = {
      kafka: await freePort(),
      controller: await freePort(),
      registry: await freePort(),
      mgmt: await freePort(),
    };
    const dir = join(ROOT, '.e2e', `infra-${name}`);
    for (const stale of ['kafka/data', 'kafka/cluster.id', 'kafka/kafka.pid', 'apicurio/apicurio.pid']) {
      rmSync(join(dir, stale), { recursive: true, force: true });
    }
    return new LocalInfra(dir, ports);
  }

  /** What the services and clients need to reach these servers. */
  get env(): Record<string, string> {
    return {
      KAFKA_BROKERS: `localhost:${this.ports.kafka}`,
      SCHEMA_REGISTRY_URL: `http://localhost:${this.ports.registry}/apis/ccompat/v7`,
    };
  }

  get brokers(): string[] {
    return [`localhost:${this.ports.kafka}`];
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

  /** kill -9 of the broker, as a crash or an OOM kill would do it. */
  async killBroker(): Promise<void> {
    await this.kill(join(this.dir, 'kafka', 'kafka.pid'));
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
      },
      maxBuffer: 16 * 1024 * 1024,
    });
  }
}
