import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig, projectRoot } from '@app/config';

// Docker does not run here, so this checks the file against the config defaults instead:
// a user who runs the compose file must need no other setting.
describe('docker-compose.kafka.yml', () => {
  const compose = parse(readFileSync(join(projectRoot(), 'docker-compose.kafka.yml'), 'utf8'));
  const defaults = loadConfig({});

  it('publishes Kafka on the port of the default KAFKA_BROKERS, advertised as localhost', () => {
    const [host, port] = defaults.kafka.brokers[0].split(':');
    expect(compose.services.kafka.ports).toContain(`127.0.0.1:${port}:${port}`);
    expect(compose.services.kafka.environment.KAFKA_ADVERTISED_LISTENERS).toContain(`${host}:${port}`);
    expect(compose.services.kafka.environment.KAFKA_PROCESS_ROLES).toMatch(/controller/);
    expect(compose.services.kafka.image).toMatch(/^apache\/kafka:3\.9/);
  });

  it('publishes the registry on the port and path of the default SCHEMA_REGISTRY_URL, stored in Kafka', () => {
    const url = new URL(defaults.registry.url);
    expect(url.pathname).toBe('/apis/ccompat/v7');
    const registry = compose.services['schema-registry'];
    expect(registry.image).toMatch(/^apicurio\/apicurio-registry:3\./);
    expect(registry.ports).toContain(`127.0.0.1:${url.port}:8081`);
    expect(registry.environment.APICURIO_REST_DELETION_ARTIFACT_ENABLED).toBe('false');
    expect(JSON.stringify(registry.environment)).toMatch(/kafkasql/);
  });

  describe('docker-compose.kafka.secure.yml (the secure overlay)', () => {
    const secure = parse(readFileSync(join(projectRoot(), 'docker-compose.kafka.secure.yml'), 'utf8'));
    const script = readFileSync(join(projectRoot(), 'infra', 'infra.sh'), 'utf8');

    it('takes its broker settings from the file infra.sh secrets --secure writes, and mounts its secrets', () => {
      expect(secure.services.kafka.env_file).toBe('.infra-secure/secure/docker-kafka.env');
      expect(script).toContain('>"$SECURE_DIR/docker-kafka.env"');
      expect(secure.services.kafka.volumes).toContain('./.infra-secure/docker-secrets:/etc/kafka/secrets:ro');
      expect(script).toMatch(/KAFKA_ADVERTISED_LISTENERS=SASL_SSL:\/\/kafka:29092,SASL_SSL_HOST:\/\/localhost:9092/);
      expect(script).toMatch(
        /KAFKA_AUTHORIZER_CLASS_NAME=org\.apache\.kafka\.metadata\.authorizer\.StandardAuthorizer/,
      );
    });

    it('creates the ACLs with the same script as infra.sh, over PLAIN', () => {
      const acls = secure.services['kafka-acls'];
      expect(acls.command).toEqual(['node', 'infra/kafka/secure-setup.js']);
      expect(acls.environment).toMatchObject({ KAFKA_BROKERS: 'kafka:29092', SECURE_SASL_MECHANISM: 'plain' });
    });
  });
});
