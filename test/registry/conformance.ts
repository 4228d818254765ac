import { afterEach, expect, it } from 'vitest';
import type { InstanceHealth, Registry } from '../../src/registry/index.js';

/** Polls `fn` until it returns true (real time; for backends that change asynchronously). */
export async function eventually(fn: () => Promise<boolean> | boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The behaviour every Registry backend must have — embedded, HTTP (our server) and etcd. */
export function registryConformance(make: () => Promise<{ registry: Registry; cleanup: () => Promise<void> }>): void {
  let opened: { registry: Registry; cleanup: () => Promise<void> }[] = [];
  const open = async (): Promise<Registry> => {
    const r = await make();
    opened.push(r);
    return r.registry;
  };
  afterEach(async () => {
    for (const r of opened) await r.cleanup();
    opened = [];
  });
  const ids = (list: InstanceHealth[]): string[] => list.map((h) => h.instance.id).sort();

  it('lists a registered instance with its address, port, tags and meta', async () => {
    const r = await open();
    await r.register({ id: 'web-1', service: 'web', address: '127.0.0.1', port: 8081, tags: ['v2'], meta: { zone: 'a' } });
    const list = await r.instances('web');
    expect(list).toHaveLength(1);
    expect(list[0]!.instance).toMatchObject({ id: 'web-1', service: 'web', address: '127.0.0.1', port: 8081, tags: ['v2'], meta: { zone: 'a' } });
    expect(list[0]!.status).toBe('passing'); // no checks: healthy
    expect((await r.services()).web).toEqual(['v2']);
  });

  it('keeps an instance whose TTL check is critical out of healthy() until it passes', async () => {
    const r = await open();
    await r.register({ id: 'db-1', service: 'db', address: '127.0.0.1', port: 5001, checks: [{ id: 'db-1-ttl', ttlMs: 5000 }] });
    await eventually(async () => (await r.instances('db')).length === 1, 5000, 'registration visible');
    expect(await r.healthy('db')).toEqual([]);
    await r.pass('db-1-ttl', 'ready');
    await eventually(async () => (await r.healthy('db')).length === 1, 5000, 'passing');
    await r.warn('db-1-ttl', 'slow');
    await eventually(async () => (await r.healthy('db')).length === 0, 5000, 'warning excluded from healthy');
    const [h] = await r.instances('db');
    expect(h!.status).toBe('warning');
  });

  it('turns a TTL check critical when it is not renewed in time', async () => {
    const r = await open();
    await r.register({ id: 'q-1', service: 'queue', address: '127.0.0.1', port: 1, checks: [{ id: 'q-1-ttl', ttlMs: 1000 }] }); // long enough that a busy machine still sees it pass first
    await r.pass('q-1-ttl');
    await eventually(async () => (await r.healthy('queue')).length === 1, 5000, 'passing');
    await eventually(async () => (await r.healthy('queue')).length === 0, 5000, 'expired');
    expect((await r.instances('queue'))[0]!.checks[0]!.status).toBe('critical');
  });

  it('forgets a deregistered instance', async () => {
    const r = await open();
    await r.register({ id: 'a', service: 'svc', address: '', port: 1 });
    await r.register({ id: 'b', service: 'svc', address: '', port: 2 });
    await r.deregister('a');
    await eventually(async () => ids(await r.instances('svc')).join() === 'b', 5000, 'deregistered');
  });

  it('replaces an instance registered again under the same id', async () => {
    const r = await open();
    await r.register({ id: 'x', service: 'svc', address: 'h1', port: 1 });
    await r.register({ id: 'x', service: 'svc', address: 'h2', port: 2 });
    await eventually(async () => (await r.instances('svc'))[0]?.instance.address === 'h2', 5000, 're-registered');
    expect(await r.instances('svc')).toHaveLength(1);
  });

  it('watch() reports the healthy set now and after every change', async () => {
    const r = await open();
    const seen: string[][] = [];
    const sub = r.watch('api', (list) => seen.push(ids(list)));
    try {
      await eventually(() => seen.length >= 1, 5000, 'initial call');
      await r.register({ id: 'api-1', service: 'api', address: '', port: 1 });
      await eventually(() => seen.some((s) => s.join() === 'api-1'), 5000, 'sees api-1');
      await r.register({ id: 'api-2', service: 'api', address: '', port: 2 });
      await eventually(() => seen.some((s) => s.join() === 'api-1,api-2'), 5000, 'sees both');
      await r.deregister('api-1');
      await eventually(() => seen.at(-1)!.join() === 'api-2', 5000, 'sees api-1 leave');
    } finally {
      sub.dispose();
    }
  });

  it('says which id or check is unknown', async () => {
    const r = await open();
    await expect(r.deregister('nope')).rejects.toThrow(/nope/);
    await expect(r.pass('no-such-check')).rejects.toThrow(/no-such-check/);
  });

  it('rejects a malformed instance, naming the field', async () => {
    const r = await open();
    await expect(r.register({ id: 'x', service: 'bad name!', address: '', port: 1 })).rejects.toThrow(/service must be/);
    await expect(r.register({ id: 'x', service: 's', address: '', port: 70000 })).rejects.toThrow(/port must be an integer from 0 to 65535/);
  });
}
