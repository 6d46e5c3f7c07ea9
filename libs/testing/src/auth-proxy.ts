import { createServer, IncomingMessage, request, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An auth-enforcing reverse proxy in front of a real registry, as a managed registry behaves:
 * 401 without credentials, 403 with wrong ones, else the request is forwarded unchanged.
 * `seen` keeps every Authorization header it received, to check what clients send.
 */
export class AuthProxy {
  readonly seen: (string | undefined)[] = [];
  private server?: Server;

  constructor(
    private readonly target: string,
    private readonly expected: string,
  ) {}

  static basic(target: string, username: string, password: string): AuthProxy {
    return new AuthProxy(target, `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`);
  }

  static bearer(target: string, token: string): AuthProxy {
    return new AuthProxy(target, `Bearer ${token}`);
  }

  /** The proxy's URL with the target's path (…/apis/ccompat/v7). */
  get url(): string {
    const { port } = this.server!.address() as AddressInfo;
    return `http://localhost:${port}${new URL(this.target).pathname}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const auth = req.headers.authorization;
    this.seen.push(auth);
    if (!auth) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="registry"', 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }));
      return;
    }
    if (auth !== this.expected) {
      res.writeHead(403, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error_code: 403, message: 'Forbidden' }));
      return;
    }
    const target = new URL(this.target);
    const headers = { ...req.headers, host: target.host };
    delete headers.authorization;
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      res.writeHead(502).end();
    });
    req.pipe(upstream);
  }
}
