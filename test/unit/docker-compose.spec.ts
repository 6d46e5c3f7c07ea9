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
});
