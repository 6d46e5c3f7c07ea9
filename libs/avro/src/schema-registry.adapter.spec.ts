import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { RegistryUnavailableError } from './codec.errors';
import { SchemaRegistryAdapter } from './schema-registry.adapter';

const SCHEMA = JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }] });

/** A registry that leaves the first `hang` register calls unanswered, as a stuck registry does. */
async function fakeRegistry(hang: number): Promise<{ url: string; registers: () => number; close: () => void }> {
  let registers = 0;
  const open: ServerResponse[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    req.resume();
    if (req.method === 'GET' && req.url?.startsWith('/config/')) return json(200, { compatibilityLevel: 'BACKWARD' });
    if (req.method === 'POST' && /\/subjects\/[^/]+\/versions$/.test(req.url ?? '')) {
      registers++;
      if (registers <= hang) return void open.push(res);
      return json(200, { id: 7 });
    }
    json(404, { message: 'not here' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    registers: () => registers,
    close: () => {
      open.forEach((r) => r.destroy());
      server.closeAllConnections();
      server.close();
    },
  };
}

describe('SchemaRegistryAdapter', () => {
  it('gives up on a registry call that never answers, and tries again', async () => {
    const registry = await fakeRegistry(1);
    try {
      const adapter = new SchemaRegistryAdapter(registry.url, 300);
      await expect(adapter.register('s-value', SCHEMA, 'BACKWARD')).resolves.toBe(7);
      expect(registry.registers()).toBeGreaterThanOrEqual(2);
    } finally {
      registry.close();
    }
  });

  it('reports a registry that keeps not answering as unavailable, within bounded time', async () => {
    const registry = await fakeRegistry(Number.POSITIVE_INFINITY);
    try {
      const adapter = new SchemaRegistryAdapter(registry.url, 200);
      const started = Date.now();
      await expect(adapter.register('s-value', SCHEMA, 'BACKWARD')).rejects.toBeInstanceOf(RegistryUnavailableError);
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      registry.close();
    }
  });

  it('takes a compatibility rule created concurrently by another client as set', async () => {
    const seen: string[] = [];
    let level: string | undefined;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url}`);
        const json = (status: number, payload: unknown) => {
          res.writeHead(status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(payload));
        };
        if (req.method === 'PUT' && level === undefined) {
          level = 'BACKWARD'; // the other client won the race
          return json(409, { message: "A rule named 'COMPATIBILITY' already exists.", error_code: 0 });
        }
        if (req.method === 'PUT') {
          level = (JSON.parse(body) as { compatibility: string }).compatibility;
          return json(200, { compatibility: level });
        }
        json(200, { compatibilityLevel: level });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await expect(new SchemaRegistryAdapter(url).setCompatibility('a-value', 'BACKWARD')).resolves.toBeUndefined();
      expect(seen).toEqual(['PUT /config/a-value', 'GET /config/a-value']);

      // The other client chose another level: ours is set on top, as an update.
      level = undefined;
      seen.length = 0;
      await new SchemaRegistryAdapter(url).setCompatibility('b-value', 'FULL');
      expect(seen).toEqual(['PUT /config/b-value', 'GET /config/b-value', 'PUT /config/b-value']);
      expect(level).toBe('FULL');
    } finally {
      server.close();
    }
  });
});
