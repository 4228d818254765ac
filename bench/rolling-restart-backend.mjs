// A backend for bench:rolling-restart: registers itself (TTL check, heartbeats) and answers GET
// and POST after 5 ms. argv: mode (plain | lifecycle), id, port, registry url.
// plain: what most services do on SIGTERM — server.close(), exit when it has closed.
// lifecycle: steadfast's lifecycle() — deregister, 500 ms, drain with Connection: close, exit.
import http from 'node:http';
import { HttpRegistry, lifecycle } from '../dist/index.js';

const [mode, id, port, registryUrl] = process.argv.slice(2);
const registry = new HttpRegistry({ url: registryUrl, timeoutMs: 2000 });
const server = http.createServer((req, res) => {
  if (lc?.handle(req, res)) return;
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => setTimeout(() => res.end(req.method === 'POST' ? 'created' : 'ok'), 5));
});
server.keepAliveTimeout = 10_000;
const lc = mode === 'lifecycle' ? lifecycle({ server, registry, instanceId: id, shutdownDelayMs: 500, drainTimeoutMs: 10_000 }) : undefined;
await new Promise((r) => server.listen(Number(port), '127.0.0.1', r));
await registry.register({ id, service: 'api', address: '127.0.0.1', port: Number(port), checks: [{ ttlMs: 1000 }] });
const beat = () => registry.pass(`service:${id}`).catch(() => {});
await beat();
const heartbeat = setInterval(beat, 250);
if (lc) {
  lc.on('state', ({ state }) => state === 'draining' && clearInterval(heartbeat));
  lc.onShutdown('registry: close', () => registry.close());
  lc.started();
} else {
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
}
process.stdout.write('ready\n');
