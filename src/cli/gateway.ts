import { InvalidArgumentError, type Command } from 'commander';
import { Gateway, type GatewayRoute } from '../balance/gateway.js';
import { HttpRegistry } from '../registry/http-client.js';
import { numberIn } from './args.js';

/** `/api=http://a:1,http://b:2` or `/=service:web`. */
function parseRoute(value: string, previous: GatewayRoute[] = []): GatewayRoute[] {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`must be PATH=URL[,URL…] or PATH=service:NAME, got '${value}'`);
  const path = value.slice(0, eq);
  const target = value.slice(eq + 1);
  if (!path.startsWith('/')) throw new InvalidArgumentError(`the path must start with '/', got '${path}'`);
  if (target.startsWith('service:')) return [...previous, { path, service: target.slice(8), stripPrefix: path !== '/' }];
  const upstreams = target.split(',').filter(Boolean);
  for (const u of upstreams) if (!/^https?:\/\/[^\s/]+/.test(u)) throw new InvalidArgumentError(`upstream '${u}' must be an http:// URL`);
  if (upstreams.length === 0) throw new InvalidArgumentError(`route '${path}' has no upstream`);
  return [...previous, { path, upstreams, stripPrefix: path !== '/' }];
}

export function registerGateway(program: Command): void {
  program
    .command('gateway')
    .description('Run a reverse proxy that balances over healthy upstreams, fails over idempotent requests, ejects failing upstreams, and serves /_steadfast/health and /metrics.')
    .requiredOption('-r, --route <path=targets>', 'a route: /api=http://127.0.0.1:8081,http://127.0.0.1:8082 or /=service:web (repeatable)', parseRoute)
    .option('-p, --port <port>', 'port to listen on (0 = any free port)', numberIn(0, 65535, { integer: true }), 8080)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--registry <url>', 'Consul-compatible registry for service: routes (e.g. http://127.0.0.1:8500)')
    .option('--json', 'print the listening address as JSON')
    .action(async (opts: { route: GatewayRoute[]; port: number; host: string; registry?: string; json?: boolean }) => {
      const needsRegistry = opts.route.some((r) => r.service !== undefined);
      if (needsRegistry && !opts.registry) {
        process.stderr.write("steadfast gateway: a service: route needs --registry <url> (e.g. --registry http://127.0.0.1:8500)\n");
        process.exitCode = 2;
        return;
      }
      const registry = opts.registry ? new HttpRegistry({ url: opts.registry }) : undefined;
      const gateway = await new Gateway({ routes: opts.route, port: opts.port, host: opts.host, ...(registry ? { registry } : {}) }).listen();
      if (opts.json) process.stdout.write(JSON.stringify({ url: gateway.url, port: gateway.port }) + '\n');
      else process.stdout.write(`steadfast gateway listening on ${gateway.url} (${opts.route.map((r) => `${r.path} → ${r.service ? `service ${r.service}` : r.upstreams!.join(', ')}`).join('; ')}); health at /_steadfast/health, metrics at /metrics\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await gateway.close();
      await registry?.close();
    });
}
