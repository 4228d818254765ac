import type { Command } from 'commander';
import { ToxiproxyServer } from '../chaos/toxiproxy-server.js';
import { numberIn } from './args.js';

export function registerToxiproxy(program: Command): void {
  program
    .command('toxiproxy')
    .description("Serve Toxiproxy's HTTP API (proxies and toxics: latency, bandwidth, timeout, reset_peer, slow_close, slicer, limit_data) without the Go binary.")
    .option('-p, --port <port>', 'API port (0 = any free port)', numberIn(0, 65535, { integer: true }), 8474)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--allowed-host <name>', 'also answer requests for this Host name (besides IP addresses and localhost); repeatable', (v: string, prev: string[] = []) => [...prev, v])
    .option('--allowed-origin <origin>', 'let browser pages from this origin (http://host:port) change proxies; repeatable', (v: string, prev: string[] = []) => [...prev, v])
    .option('--json', 'print the API address as JSON')
    .action(async (opts: { port: number; host: string; allowedHost?: string[]; allowedOrigin?: string[]; json?: boolean }) => {
      const server = await new ToxiproxyServer({
        port: opts.port,
        host: opts.host,
        ...(opts.allowedHost ? { allowedHosts: opts.allowedHost } : {}),
        ...(opts.allowedOrigin ? { allowedOrigins: opts.allowedOrigin } : {}),
      }).listen();
      if (opts.json) process.stdout.write(JSON.stringify({ url: server.url }) + '\n');
      else process.stdout.write(`steadfast toxiproxy API on ${server.url} (Toxiproxy-compatible); Ctrl-C to stop\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await server.close();
    });
}
