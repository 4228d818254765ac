import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../src/balance/index.js';
import { LoadGenerator } from '../../src/chaos/index.js';
import { EmbeddedRegistry, RegistryServer } from '../../src/registry/index.js';
import { bundleFixture, Lines } from '../support/bundle.js';
import { freePort } from '../support/servers.js';

// Real processes behind the gateway, fed by the registry; each restarted in turn (SIGTERM, exit,
// start again) under open-loop load with POSTs, which are not resent after a reset: with
// lifecycle() not one request fails. (bench:rolling-restart puts a plain server.close() beside it.)
describe('a rolling restart with lifecycle()', () => {
  let fixture: Awaited<ReturnType<typeof bundleFixture>>;
  beforeAll(async () => {
    fixture = await bundleFixture(path.join(import.meta.dirname, 'fixtures/registered-backend.ts'));
  }, 60_000);
  afterAll(() => fixture?.cleanup());

  it('fails no request, and every process exits 0 after its drain', async () => {
    const embedded = new EmbeddedRegistry();
    const rs = await new RegistryServer({ registry: embedded, port: 0 }).listen();
    const gateway = await new Gateway({ registry: embedded, routes: [{ path: '/', service: 'api' }] }).listen();
    const children: ChildProcess[] = [];
    const start = async (id: string, port: number) => {
      const child = spawn(process.execPath, [fixture.file, id, String(port), rs.url], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      const lines = new Lines();
      child.stdout!.on('data', (c: Buffer) => lines.feed(c));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      await lines.waitFor(/^ready$/, 30_000);
      return { child, exited };
    };
    const healthy = (n: number) => expect.poll(async () => (await embedded.healthy('api')).length, { timeout: 30_000 }).toBe(n);
    try {
      const ids = ['b1', 'b2', 'b3'];
      const ports = await Promise.all(ids.map(() => freePort()));
      const procs = await Promise.all(ids.map((id, i) => start(id, ports[i]!)));
      await healthy(3);
      const failures: string[] = [];
      let seq = 0;
      const load = new LoadGenerator({
        url: gateway.url,
        ratePerSec: 200,
        durationMs: 120_000,
        timeoutMs: 10_000,
        next: () => (seq++ % 10 < 3 ? { method: 'POST', path: '/items', body: '{}' } : { path: '/items' }),
      });
      load.on('result', (r) => {
        if (!r.ok) failures.push(`${r.request?.method} ${r.status ?? r.error}`);
      });
      const running = load.run();
      const codes: (number | null)[] = [];
      for (let i = 0; i < ids.length; i++) {
        procs[i]!.child.kill('SIGTERM');
        codes.push(await procs[i]!.exited);
        // It left the registry itself before exiting (not merely expired: a TTL leaves it listed, critical).
        expect((await embedded.instances('api')).map((h) => h.instance.id)).not.toContain(ids[i]);
        procs[i] = await start(ids[i]!, ports[i]!);
        await healthy(3);
      }
      load.stop();
      const summary = await running;
      expect(summary.sent).toBeGreaterThan(100);
      expect(failures).toEqual([]);
      expect(codes).toEqual([0, 0, 0]);
    } finally {
      for (const c of children) c.kill('SIGKILL');
      await gateway.close();
      await rs.close();
      await embedded.close();
    }
  }, 180_000);
});
