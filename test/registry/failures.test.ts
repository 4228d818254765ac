import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedRegistry, EtcdRegistry, HttpRegistry, RegistryServer } from '../../src/registry/index.js';
import { bundleFixture, Lines } from '../support/bundle.js';
import { describeNeeding, ETCD, startEtcd } from '../support/servers.js';
import { eventually } from './conformance.js';

describe('a registered instance that is SIGKILLed', () => {
  let fixture: { file: string; cleanup: () => void };
  let registry: EmbeddedRegistry;
  let server: RegistryServer;
  beforeAll(async () => {
    fixture = await bundleFixture(path.join(import.meta.dirname, 'fixtures/instance.ts'));
    registry = new EmbeddedRegistry();
    server = await new RegistryServer({ registry, port: 0 }).listen();
  });
  afterAll(async () => {
    await server.close();
    await registry.close();
    fixture.cleanup();
  });

  // The bound — its TTL plus the time since its last renewal — is a ManualClock test of the TTL
  // check (test/detection/monitor.test.ts) and a figure of bench/registry.mjs (257 ms median with a 300 ms TTL).
  it('is marked critical with "TTL expired" and leaves ?passing', async () => {
    const ttlMs = 300;
    const everyMs = 100;
    const child = spawn(process.execPath, [fixture.file, server.url, 'worker-1', String(ttlMs), String(everyMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = new Lines();
    child.stdout!.on('data', (c: Buffer) => lines.feed(c));
    await lines.waitFor(/^registered$/);
    await lines.waitFor(/^pass$/);
    const client = new HttpRegistry({ url: server.url, watchWaitMs: 5000 });
    let goneAt = 0;
    const sub = client.watch('worker', (healthy) => {
      if (healthy.length === 0 && goneAt === 0) goneAt = Date.now();
    });
    await eventually(async () => (await client.healthy('worker')).length === 1, 20_000, 'healthy');
    child.kill('SIGKILL');
    await eventually(() => goneAt > 0, 20_000, 'left ?passing');
    sub.dispose();
    await client.close();
    const [h] = await registry.instances('worker');
    expect(h!.checks[0]!.status).toBe('critical');
    expect(h!.checks[0]!.output).toMatch(/TTL expired/);
  }, 60_000);
});

describeNeeding(ETCD, 'EtcdRegistry when etcd is stopped and restarted', () => {
  it('reconnects and registers again, even when etcd comes back with no data', async () => {
    let etcd = await startEtcd();
    const registry = new EtcdRegistry({ endpoints: [etcd.url], prefix: '/restart-test/', ttlMs: 2000 });
    const reregistered: string[] = [];
    registry.on('reregistered', (e) => reregistered.push(e.id));
    try {
      await registry.register({ id: 'api-1', service: 'api', address: '127.0.0.1', port: 8080 });
      expect((await registry.healthy('api')).map((h) => h.instance.id)).toEqual(['api-1']);
      etcd = await etcd.restart('SIGKILL', { wipe: true });
      await eventually(async () => reregistered.includes('api-1') && (await registry.healthy('api').catch(() => [])).length === 1, 30_000, 're-registered after the restart');
    } finally {
      await registry.close();
      await etcd.stop();
    }
  }, 60_000);
});

describe('steadfast registry SIGSTOPped for longer than the TTLs it holds', () => {
  let fixture: { file: string; cleanup: () => void };
  beforeAll(async () => {
    fixture = await bundleFixture(path.join(import.meta.dirname, 'fixtures/instance.ts'));
  });
  afterAll(() => fixture.cleanup());

  it('does not mark the instances that kept heartbeating critical when it runs again', async () => {
    const registryProcess = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'registry', '--port', '0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const regLines = new Lines();
    registryProcess.stdout!.on('data', (c: Buffer) => regLines.feed(c));
    const instances: ReturnType<typeof spawn>[] = [];
    let client: HttpRegistry | undefined;
    try {
      const url = (JSON.parse((await regLines.waitFor(/^\{.*\}$/, 60_000))[0]!) as { url: string }).url;
      for (const id of ['worker-1', 'worker-2']) {
        const child = spawn(process.execPath, [fixture.file, url, id, '500', '150'], { stdio: ['ignore', 'pipe', 'pipe'] });
        instances.push(child);
        const lines = new Lines();
        child.stdout!.on('data', (c: Buffer) => lines.feed(c));
        await lines.waitFor(/^pass$/, 30_000);
      }
      client = new HttpRegistry({ url, watchWaitMs: 5000 });
      const seen: number[] = [];
      const sub = client.watch('worker', (healthy) => seen.push(healthy.length));
      await eventually(async () => seen.at(-1) === 2, 20_000, 'both healthy');
      // Stopped for 2 s (four TTLs): the instances' heartbeats wait unread in its sockets.
      process.kill(registryProcess.pid!, 'SIGSTOP');
      await new Promise((r) => setTimeout(r, 2000));
      process.kill(registryProcess.pid!, 'SIGCONT');
      // Past one more TTL after it runs again: a wrong expiry would have been seen by now.
      await eventually(async () => (await client!.healthy('worker')).length === 2, 20_000, 'healthy after the stall');
      await new Promise((r) => setTimeout(r, 1000));
      sub.dispose();
      expect(seen.slice(seen.indexOf(2)).every((n) => n === 2), `healthy counts seen: ${seen.join(', ')}`).toBe(true);
    } finally {
      for (const c of instances) c.kill('SIGKILL');
      process.kill(registryProcess.pid!, 'SIGCONT');
      registryProcess.kill('SIGKILL');
      await client?.close();
    }
  }, 90_000);
});
