import type { Command } from 'commander';
import { FileCheckpointStore } from '../recovery/stores/file.js';
import { EmbeddedRegistry } from '../registry/embedded.js';
import { RegistryServer } from '../registry/server.js';
import { numberIn } from './args.js';

export function registerRegistry(program: Command): void {
  program
    .command('registry')
    .description('Serve a Consul-compatible service registry (agent, catalog, health with blocking queries, KV and sessions) over HTTP.')
    .option('-p, --port <port>', 'port to listen on (0 = any free port)', numberIn(0, 65535, { integer: true }), 8500)
    .option('--host <host>', 'address to bind (only this machine by default)', '127.0.0.1')
    .option('--data-dir <dir>', 'persist services and KV in this folder, so a restart remembers them')
    .option('--acl-token <token>', 'require this token (X-Consul-Token) on every request; or set STEADFAST_ACL_TOKEN')
    .option('--json', 'print the listening address as JSON')
    .action(async (opts: { port: number; host: string; dataDir?: string; aclToken?: string; json?: boolean }) => {
      const token = opts.aclToken ?? process.env.STEADFAST_ACL_TOKEN;
      const registry = opts.dataDir ? await EmbeddedRegistry.open({ store: new FileCheckpointStore({ dir: opts.dataDir }) }) : new EmbeddedRegistry();
      const server = await new RegistryServer({ registry, port: opts.port, host: opts.host, ...(token ? { aclToken: token } : {}) }).listen();
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
