import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/index.js';
import { EmbeddedRegistry, RegistryServer } from '../../src/registry/index.js';
import { describeNeeding, findServer, PYTHON_CONSUL } from '../support/servers.js';

// A second real client, in another language: python-consul 0.7.1 (Debian's python3-consul)
// runs fixtures/python_consul_client.py against the server; the server's clock is a
// ManualClock the test moves while the script waits, so the session expiry takes no real time.

describeNeeding(PYTHON_CONSUL, 'RegistryServer with python-consul (Debian python3-consul)', () => {
  const clock = new ManualClock();
  let registry: EmbeddedRegistry;
  let server: RegistryServer;
  beforeAll(async () => {
    registry = new EmbeddedRegistry({ clock });
    server = await new RegistryServer({ registry, port: 0 }).listen();
  });
  afterAll(async () => {
    await server.close();
    await registry.close();
  });

  it('registers in lower case, passes and fails a TTL check, reads KV with missing keys and a separator, and sees a TTL session expire', async () => {
    const python = findServer(PYTHON_CONSUL)!;
    const child = spawn(python, [path.join(import.meta.dirname, 'fixtures/python_consul_client.py'), String(server.port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const steps: Record<string, Record<string, unknown>> = {};
    for await (const line of readline.createInterface({ input: child.stdout })) {
      const step = JSON.parse(line) as { step: string } & Record<string, unknown>;
      steps[step.step] = step;
      if (step.step === 'waiting') {
        // Consul invalidates an unrenewed session between TTL and 2 × TTL.
        await clock.advanceAsync(20_001);
        child.stdin.write('go\n');
      }
    }
    const code = await new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)));
    expect(code, stderr).toBe(0);
    expect(steps.self).toMatchObject({ datacenter: 'dc1', datacenters: ['dc1'], nodes: ['steadfast'] });
    expect(steps.register).toMatchObject({ registered: true, services: ['web-1'], port: 8080, tags: ['blue'] });
    expect(steps.ttl).toMatchObject({ before: 0, after_pass: ['web-1'], after_fail: 0, status: 'critical', output: 'disk full', critical: ['service:web-1'] });
    expect(steps.kv).toMatchObject({ missing: null, value: 'v', keys: ['app/a/', 'app/b'], empty: null });
    expect(Number(steps.kv!.index)).toBeGreaterThan(0);
    expect(steps.session).toMatchObject({ acquired: true, ttl: '10s', behavior: 'delete', name: 'leader' });
    // Expired: the session is gone and, with behavior=delete, so is the key its lock was on.
    expect(steps.expired).toEqual({ step: 'expired', session: null, lock: null, destroyed: true });
  });
});
