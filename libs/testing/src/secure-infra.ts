import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, ROOT } from './service-process';

const run = promisify(execFile);

export type SecurePrincipal = 'admin' | 'gateway' | 'preprocessor' | 'inference';

/**
 * A private secure Kafka (SASL_SSL, SCRAM users, ACLs) and registry, started by the project's own
 * `infra/infra.sh up --secure` on free ports under .e2e/, so the shared dev infra is never touched.
 */
export class SecureInfra {
  private constructor(
    readonly dir: string,
    readonly ports: { kafka: number; controller: number; registry: number; mgmt: number },
  ) {}

  /** Reused instead of started when SECURE_INFRA_DIR, SECURE_KAFKA_PORT and SECURE_REGISTRY_PORT name a running one. */
  private reused = false;

  static async allocate(name: string): Promise<SecureInfra> {
    const { SECURE_INFRA_DIR, SECURE_KAFKA_PORT, SECURE_REGISTRY_PORT } = process.env;
    if (SECURE_INFRA_DIR && SECURE_KAFKA_PORT && SECURE_REGISTRY_PORT) {
      const infra = new SecureInfra(SECURE_INFRA_DIR, {
        kafka: Number(SECURE_KAFKA_PORT),
        controller: 0,
        registry: Number(SECURE_REGISTRY_PORT),
        mgmt: 0,
      });
      infra.reused = true;
      return infra;
    }
    const ports = {
      kafka: await freePort(),
      controller: await freePort(),
      registry: await freePort(),
      mgmt: await freePort(),
    };
    return new SecureInfra(join(ROOT, '.e2e', `infra-secure-${name}-${ports.kafka}`), ports);
  }

  get brokers(): string[] {
    return [`localhost:${this.ports.kafka}`];
  }

  get registryUrl(): string {
    return `http://localhost:${this.ports.registry}/apis/ccompat/v7`;
  }

  get secureDir(): string {
    return join(this.dir, 'secure');
  }

  password(user: SecurePrincipal): string {
    return readFileSync(join(this.secureDir, `${user}.password`), 'utf8').trim();
  }

  get caPem(): string {
    return readFileSync(join(this.secureDir, 'ca.pem'), 'utf8');
  }

  /** A service's settings, as a user gives them: the password as a *_FILE path. */
  envFor(user: SecurePrincipal): Record<string, string> {
    return {
      KAFKA_BROKERS: this.brokers.join(','),
      SCHEMA_REGISTRY_URL: this.registryUrl,
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SSL_CA_FILE: join(this.secureDir, 'ca.pem'),
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: user,
      KAFKA_SASL_PASSWORD_FILE: join(this.secureDir, `${user}.password`),
      KAFKA_CREATE_TOPICS: '0',
    };
  }

  async up(): Promise<void> {
    await this.script('up');
  }

  async down(): Promise<void> {
    await this.script('down');
  }

  private async script(cmd: 'up' | 'down'): Promise<void> {
    if (this.reused) return;
    await run('bash', [join(ROOT, 'infra', 'infra.sh'), cmd, '--secure'], {
      cwd: ROOT,
      env: {
        ...process.env,
        INFRA_SECURE: '1',
        INFRA_DIR: this.dir,
        KAFKA_PORT: String(this.ports.kafka),
        KAFKA_CONTROLLER_PORT: String(this.ports.controller),
        APICURIO_PORT: String(this.ports.registry),
        APICURIO_MGMT_PORT: String(this.ports.mgmt),
      },
      maxBuffer: 16 * 1024 * 1024,
      timeout: 300_000,
    });
  }
}
