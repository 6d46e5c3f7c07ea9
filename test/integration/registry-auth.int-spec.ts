import { AvroCodec, RegistryRequestError, SchemaRegistryAdapter } from '@app/avro';
import { loadCommonConfig } from '@app/config';
import { AuthProxy, uniqueSuffix } from '@app/testing';
import { inspect } from 'node:util';

/**
 * Registry credentials against the real registry behind an auth-enforcing proxy: the settings are
 * read by the project's own config loader, and the adapter must send them on every call (the
 * confluent client's calls and the adapter's own fetches alike).
 */
describe('schema registry credentials (real registry behind an auth-enforcing proxy)', () => {
  const registryUrl = loadCommonConfig().registry.url;
  const PASSWORD = `pw-${uniqueSuffix()}-secret`;
  const TOKEN = `tok-${uniqueSuffix()}-secret`;
  let basic: AuthProxy;
  let bearer: AuthProxy;

  beforeAll(async () => {
    basic = await AuthProxy.basic(registryUrl, 'svc', PASSWORD).start();
    bearer = await AuthProxy.bearer(registryUrl, TOKEN).start();
  });
  afterAll(async () => {
    await basic?.stop();
    await bearer?.stop();
  });

  const topics = () => {
    const sfx = uniqueSuffix();
    return { raw: `raw-${sfx}`, tokenized: `tokenized-${sfx}`, prediction: `predictions-${sfx}` };
  };

  it('registers and reads schemas with basic auth (SCHEMA_REGISTRY_USERNAME / _PASSWORD)', async () => {
    const config = loadCommonConfig({
      SCHEMA_REGISTRY_URL: basic.url,
      SCHEMA_REGISTRY_USERNAME: 'svc',
      SCHEMA_REGISTRY_PASSWORD: PASSWORD,
    });
    const adapter = SchemaRegistryAdapter.fromConfig(config.registry);
    const codec = new AvroCodec(adapter, topics());
    const ids = await codec.registerAll();
    expect(Object.values(ids).every((id) => Number.isInteger(id))).toBe(true);
    expect(await adapter.listSubjects()).toEqual(expect.arrayContaining([expect.stringMatching(/^raw-.*-value$/)]));
    expect(basic.seen.length).toBeGreaterThan(3);
    expect(basic.seen.every((h) => h === `Basic ${Buffer.from(`svc:${PASSWORD}`).toString('base64')}`)).toBe(true);
  });

  it('works with a bearer token (SCHEMA_REGISTRY_TOKEN_FILE style secret)', async () => {
    const config = loadCommonConfig({ SCHEMA_REGISTRY_URL: bearer.url, SCHEMA_REGISTRY_TOKEN: TOKEN });
    const codec = new AvroCodec(SchemaRegistryAdapter.fromConfig(config.registry), topics());
    await expect(codec.registerAll()).resolves.toBeDefined();
    expect(bearer.seen.every((h) => h === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('without credentials or with wrong ones: a typed 401/403 error that carries no secret, and no retries', async () => {
    const none = SchemaRegistryAdapter.fromConfig(loadCommonConfig({ SCHEMA_REGISTRY_URL: basic.url }).registry);
    const before = basic.seen.length;
    const e401 = await none.listSubjects().catch((e: unknown) => e);
    expect(e401).toBeInstanceOf(RegistryRequestError);
    expect((e401 as Error).message).toMatch(/401/);
    expect(basic.seen.length - before).toBe(1);

    const wrong = SchemaRegistryAdapter.fromConfig(
      loadCommonConfig({
        SCHEMA_REGISTRY_URL: basic.url,
        SCHEMA_REGISTRY_USERNAME: 'svc',
        SCHEMA_REGISTRY_PASSWORD: 'nope-nope',
      }).registry,
    );
    const e403 = await new AvroCodec(wrong, topics()).registerAll().catch((e: unknown) => e);
    expect(e403).toBeInstanceOf(Error);
    expect(String((e403 as Error).message)).toMatch(/403/);
    expect(String((e403 as Error).message)).not.toContain('nope-nope');
    expect(JSON.stringify(e403)).not.toContain('nope-nope');
  });

  it('never shows the credentials when the adapter itself is logged', () => {
    const adapter = SchemaRegistryAdapter.fromConfig(
      loadCommonConfig({
        SCHEMA_REGISTRY_URL: basic.url,
        SCHEMA_REGISTRY_USERNAME: 'svc',
        SCHEMA_REGISTRY_PASSWORD: PASSWORD,
      }).registry,
    );
    const shown = inspect(adapter, { depth: 8 });
    expect(shown).not.toContain(PASSWORD);
    expect(shown).not.toContain(Buffer.from(`svc:${PASSWORD}`).toString('base64'));
  });
});
