import type { Command } from 'commander';
import { FileCheckpointStore } from '../recovery/stores/file.js';
import { EmbeddedRegistry } from '../registry/embedded.js';
import { RegistryServer } from '../registry/server.js';
import { numberIn } from './args.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerRegistry(program: Command): void {
  program
    .command('registry')
    .description(
      'Serve a Consul-compatible service registry (agent, catalog, health with blocking queries, KV and sessions) over HTTP. ' +
        'With --data-dir every write is answered only once it is saved there.',
    )
    .option('-p, --port <port>', 'port to listen on (0 = any free port)', numberIn(0, 65535, { integer: true }), 8500)
    .option('--host <host>', 'address to bind (only this machine by default)', '127.0.0.1')
    .option('--data-dir <dir>', 'persist services and KV in this folder (fsync before each write is answered), so a restart remembers them')
    .option('--acl-token <token>', 'require this token (X-Consul-Token) on every request; or set STEADFAST_ACL_TOKEN')
    .option('--allowed-host <name>', 'also answer requests for this Host name (besides IP addresses and localhost); repeatable', collect)
    .option('--allowed-origin <origin>', 'let browser pages from this origin (http://host:port) write; repeatable', collect)
    .option('--json', 'print the listening address as JSON')
    .action(async (opts: { port: number; host: string; dataDir?: string; aclToken?: string; allowedHost?: string[]; allowedOrigin?: string[]; json?: boolean }) => {
      const token = opts.aclToken ?? process.env.STEADFAST_ACL_TOKEN;
      let registry: EmbeddedRegistry;
      if (opts.dataDir) {
        registry = new EmbeddedRegistry({ store: new FileCheckpointStore({ dir: opts.dataDir }) });
        registry.on('restoredOlder', (e) =>
          process.stderr.write(`steadfast registry: WARNING: started from checkpoint #${e.id}; newer ones are corrupt and were left in place: ${e.skipped.map((s) => `${s.where} (${s.reason})`).join('; ')}\n`),
        );
        registry.on('persistFailed', (e) => process.stderr.write(`steadfast registry: ERROR: ${e.error.message}; writes are refused until a save succeeds\n`));
        try {
          await registry.restore();
        } catch (err) {
          await registry.close();
          process.stderr.write(`steadfast registry: ${(err as Error).message}\n`);
          process.exitCode = 1;
          return;
        }
      } else registry = new EmbeddedRegistry();
      const server = await new RegistryServer({
        registry,
        port: opts.port,
        host: opts.host,
        ...(token ? { aclToken: token } : {}),
        ...(opts.allowedHost ? { allowedHosts: opts.allowedHost } : {}),
        ...(opts.allowedOrigin ? { allowedOrigins: opts.allowedOrigin } : {}),
      }).listen();
      if (opts.json) process.stdout.write(JSON.stringify({ url: server.url, port: server.port }) + '\n');
      else process.stdout.write(`steadfast registry listening on ${server.url} (Consul HTTP API${token ? ', ACL token required' : ''}${opts.dataDir ? `, data in ${opts.dataDir}` : ''}); Ctrl-C to stop\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
      await registry.close();
    });
}
