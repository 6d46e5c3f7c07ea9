import type { INestApplication } from '@nestjs/common';
import { MetricsService } from '@app/observability';
import { createServer, Server } from 'node:http';

/**
 * /metrics on a port of its own (METRICS_PORT), for a network only Prometheus reaches; the main
 * port then answers 404 there. It renders whatever the app's MetricsService renders.
 */
export async function startMetricsServer(app: INestApplication, port: number, host: string): Promise<Server> {
  const metrics = app.get(MetricsService);
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url?.split('?')[0] === '/metrics') {
      void Promise.resolve(metrics.render()).then(
        (text) => {
          res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
          res.end(text);
        },
        () => {
          res.writeHead(500).end();
        },
      );
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: 'not_found', message: 'no such route' }));
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  (app.getHttpServer() as Server).on('close', () => server.close());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}
