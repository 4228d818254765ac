import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Consul from 'consul';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, seededRandom } from '../../src/core/index.js';
import { FileCheckpointStore } from '../../src/recovery/index.js';
import { EmbeddedRegistry, RegistryServer } from '../../src/registry/index.js';
import { eventually } from './conformance.js';

async function start(options: Partial<ConstructorParameters<typeof RegistryServer>[0]> = {}) {
  const registry = options.registry ?? new EmbeddedRegistry();
  const server = await new RegistryServer({ registry, port: 0, ...options }).listen();
  return { registry, server, url: server.url, close: async () => (await server.close(), await registry.close()) };
}

const put = (url: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });

describe('RegistryServer with the npm consul client (a client nobody here wrote)', () => {
  let s: Awaited<ReturnType<typeof start>>;
  let consul: Consul;
  beforeAll(async () => {
    s = await start();
    consul = new Consul({ host: '127.0.0.1', port: s.server.port });
  });
  afterAll(() => s.close());

  it('registers a service with a TTL check, passes it, and lists it as passing', async () => {
    await consul.agent.service.register({ name: 'web', id: 'web-1', address: '127.0.0.1', port: 8080, tags: ['blue'], check: { ttl: '10s', checkid: 'web-1-ttl' } as never });
    expect(Object.keys(await consul.agent.service.list())).toContain('web-1');
    expect(await consul.health.service({ service: 'web', passing: true })).toEqual([]);
    await consul.agent.check.pass({ id: 'web-1-ttl' } as never);
    const healthy = (await consul.health.service({ service: 'web', passing: true })) as { Service: { ID: string; Port: number } }[];
    expect(healthy.map((h) => [h.Service.ID, h.Service.Port])).toEqual([['web-1', 8080]]);
    expect(await consul.catalog.service.list()).toMatchObject({ web: ['blue'] });
    const checks = (await consul.agent.check.list()) as Record<string, { Status: string }>;
    expect(checks['web-1-ttl']!.Status).toBe('passing');
    expect(await consul.status.leader()).toMatch(/:8300$/);
  });

  it('takes a lock with a session and KV acquire, refuses a second holder, and releases it', async () => {
    const a = (await consul.session.create({ ttl: '15s' } as never)) as { ID: string };
    const b = (await consul.session.create({ ttl: '15s' } as never)) as { ID: string };
    expect(await consul.kv.set({ key: 'locks/leader', value: 'a', acquire: a.ID } as never)).toBe(true);
    // The server answers `false` (as Consul does); this client turns a false body into undefined.
    expect(await consul.kv.set({ key: 'locks/leader', value: 'b', acquire: b.ID } as never)).toBeFalsy();
    const held = (await consul.kv.get('locks/leader')) as unknown as { Value: string; Session: string; LockIndex: number };
    expect(held).toMatchObject({ Value: 'a', Session: a.ID, LockIndex: 1 });
    await consul.session.destroy(a.ID);
    expect(((await consul.kv.get('locks/leader')) as unknown as { Session?: string }).Session).toBeUndefined();
    expect(await consul.kv.set({ key: 'locks/leader', value: 'b', acquire: b.ID } as never)).toBe(true);
    await consul.kv.del('locks/leader');
    expect(await consul.kv.get('locks/leader')).toBeUndefined();
  });

  it('deregisters through the client', async () => {
    await consul.agent.service.deregister('web-1');
    expect(Object.keys(await consul.agent.service.list())).not.toContain('web-1');
  });
});

describe('RegistryServer HTTP API', () => {
  let s: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    s = await start();
  });
  afterAll(() => s.close());

  it.each([
    ['malformed JSON', '{"Name": "web",', /Request decode failed/],
    ['a body that is not an object', '[1,2]', /must be a JSON object/],
    ['a missing Name', { Port: 80 }, /Name is required/],
    ['a bad duration', { Name: 'web', Check: { TTL: '10x' } }, /Check\.TTL: invalid duration "10x"/],
    ['a bad interval', { Name: 'web', Check: { HTTP: 'http://127.0.0.1:1/', Interval: 'soon' } }, /Check\.Interval: invalid duration "soon"/],
    ['an unknown check type', { Name: 'web', Check: { Args: ['/bin/true'], Interval: '10s' } }, /Check\.Args: check type not supported/],
    ['a check with two types', { Name: 'web', Checks: [{ TTL: '5s', TCP: 'a:1' }] }, /Checks\[0\] needs exactly one of HTTP, TCP or TTL/],
    ['an HTTP check without Interval', { Name: 'web', Check: { HTTP: 'http://127.0.0.1:1/' } }, /Check\.Interval is required/],
    ['a port out of range', { Name: 'web', Port: 70000 }, /Port must be an integer from 0 to 65535/],
    ['an unknown field', { Name: 'web', Colour: 'red' }, /Colour: unknown field/],
  ])('answers 400 naming the field for %s', async (_what, body, message) => {
    const res = await put(`${s.url}/v1/agent/service/register`, body);
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(message);
  });

  it('answers 404 for unknown endpoints, services and checks, and 405 for a wrong method', async () => {
    expect((await fetch(`${s.url}/v1/nope`)).status).toBe(404);
    expect((await put(`${s.url}/v1/agent/service/deregister/ghost`)).status).toBe(404);
    expect((await put(`${s.url}/v1/agent/check/pass/ghost`)).status).toBe(404);
    expect((await fetch(`${s.url}/v1/agent/services`, { method: 'DELETE' })).status).toBe(405);
  });

  it('refuses a body over maxBodyBytes with 413 and keeps serving', async () => {
    const big = JSON.stringify({ Name: 'x', Meta: { pad: 'x'.repeat(2 * 1024 * 1024) } });
    const res = await put(`${s.url}/v1/agent/service/register`, big);
    expect(res.status).toBe(413);
    expect((await fetch(`${s.url}/v1/status/leader`)).status).toBe(200);
  });

  it('holds a blocking query until the index moves, and returns X-Consul-Index', async () => {
    const first = await fetch(`${s.url}/v1/health/service/blocky?passing`);
    const index = Number(first.headers.get('x-consul-index'));
    expect(index).toBeGreaterThan(0);
    const started = Date.now();
    const blocked = fetch(`${s.url}/v1/health/service/blocky?passing&index=${index}&wait=5s`);
    await new Promise((r) => setTimeout(r, 100));
    await put(`${s.url}/v1/agent/service/register`, { Name: 'blocky', ID: 'blocky-1', Port: 1 });
    const res = await blocked;
    expect(Number(res.headers.get('x-consul-index'))).toBeGreaterThan(index);
    expect(((await res.json()) as unknown[]).length).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it('returns a blocking query after its wait when nothing changes', async () => {
    const first = await fetch(`${s.url}/v1/catalog/services`);
    const index = Number(first.headers.get('x-consul-index'));
    const res = await fetch(`${s.url}/v1/catalog/services?index=${index}&wait=100ms`);
    expect(res.status).toBe(200);
    expect(Number(res.headers.get('x-consul-index'))).toBe(index);
  });

  it('rejects a bad blocking-query wait with a 400 naming it', async () => {
    const res = await fetch(`${s.url}/v1/catalog/services?index=1&wait=forever`);
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/wait: invalid duration "forever"/);
  });

  it('runs an HTTP check against a real endpoint and marks the instance critical when it fails', async () => {
    const http = await import('node:http');
    let healthy = true;
    const backend = http.createServer((_q, res) => void res.writeHead(healthy ? 200 : 500).end(healthy ? 'ok' : 'down'));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const port = (backend.address() as { port: number }).port;
    try {
      const res = await put(`${s.url}/v1/agent/service/register`, { Name: 'checked', ID: 'checked-1', Port: port, Check: { HTTP: `http://127.0.0.1:${port}/health`, Interval: '50ms', Timeout: '1s' } });
      expect(res.status).toBe(200);
      await eventually(async () => ((await (await fetch(`${s.url}/v1/health/service/checked?passing`)).json()) as unknown[]).length === 1, 5000, 'passing');
      healthy = false;
      await eventually(async () => ((await (await fetch(`${s.url}/v1/health/service/checked?passing`)).json()) as unknown[]).length === 0, 5000, 'critical');
      const checks = (await (await fetch(`${s.url}/v1/agent/checks`)).json()) as Record<string, { Output: string; Status: string }>;
      expect(checks['service:checked-1']).toMatchObject({ Status: 'critical' });
      expect(checks['service:checked-1']!.Output).toMatch(/500/);
    } finally {
      backend.close();
    }
  });

  it('removes an instance that stayed critical for DeregisterCriticalServiceAfter, raised to 1 minute as Consul does', async () => {
    const clock = new ManualClock();
    const m = await start({ registry: new EmbeddedRegistry({ clock }) });
    try {
      const services = async () => Object.keys((await (await fetch(`${m.url}/v1/agent/services`)).json()) as Record<string, unknown>);
      await put(`${m.url}/v1/agent/service/register`, { Name: 'doomed', ID: 'doomed-1', Port: 1, Check: { TTL: '50ms', DeregisterCriticalServiceAfter: '100ms' } });
      await clock.advanceAsync(59_000);
      expect(await services()).toEqual(['doomed-1']);
      await clock.advanceAsync(2000);
      expect(await services()).toEqual([]);
    } finally {
      await m.close();
    }
  });

  it('takes KV cas writes and raw reads', async () => {
    expect(await (await put(`${s.url}/v1/kv/config/a?cas=0`, 'one')).json()).toBe(true);
    expect(await (await put(`${s.url}/v1/kv/config/a?cas=0`, 'two')).json()).toBe(false);
    const [entry] = (await (await fetch(`${s.url}/v1/kv/config/a`)).json()) as { ModifyIndex: number; Value: string }[];
    expect(Buffer.from(entry!.Value, 'base64').toString()).toBe('one');
    expect(await (await put(`${s.url}/v1/kv/config/a?cas=${entry!.ModifyIndex}`, 'two')).json()).toBe(true);
    expect(await (await fetch(`${s.url}/v1/kv/config/a?raw`)).text()).toBe('two');
    expect(((await (await fetch(`${s.url}/v1/kv/config?keys`)).json()) as string[])).toEqual(['config/a']);
  });

  it('releases a lock when its session TTL runs out', async () => {
    const { ID } = (await (await put(`${s.url}/v1/session/create`, { TTL: '100ms' })).json()) as { ID: string };
    expect(await (await put(`${s.url}/v1/kv/locks/job?acquire=${ID}`, 'me')).json()).toBe(true);
    await eventually(async () => {
      const [e] = (await (await fetch(`${s.url}/v1/kv/locks/job`)).json()) as { Session?: string }[];
      return e!.Session === undefined;
    }, 5000, 'session expiry releases the lock');
  });
});

describe('RegistryServer ACL token', () => {
  let s: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    s = await start({ aclToken: 's3cret' });
  });
  afterAll(() => s.close());

  it('refuses writes and reads without the token, and accepts it in either header', async () => {
    expect((await put(`${s.url}/v1/agent/service/register`, { Name: 'x' })).status).toBe(403);
    expect((await fetch(`${s.url}/v1/agent/services`)).status).toBe(403);
    expect((await put(`${s.url}/v1/agent/service/register`, { Name: 'x' }, { 'x-consul-token': 'wrong' })).status).toBe(403);
    expect((await put(`${s.url}/v1/agent/service/register`, { Name: 'x' }, { 'x-consul-token': 's3cret' })).status).toBe(200);
    expect((await fetch(`${s.url}/v1/agent/services`, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
  });
});

describe('RegistryServer under a fuzz of malformed and oversized requests (seeded)', () => {
  let s: Awaited<ReturnType<typeof start>>;
  afterEach(() => s?.close());

  it('answers every one of 1200 bad requests with a 4xx, stays up, and changes no registered data', async () => {
    s = await start({ maxBodyBytes: 64 * 1024 });
    await put(`${s.url}/v1/agent/service/register`, { Name: 'keep', ID: 'keep-1', Port: 9, Tags: ['t'], Check: { TTL: '1h', Status: 'passing' } });
    await put(`${s.url}/v1/kv/keep/me`, 'safe');
    const before = JSON.stringify([await (await fetch(`${s.url}/v1/agent/services`)).json(), await (await fetch(`${s.url}/v1/kv/keep/me`)).json()]);
    const random = seededRandom(1234);
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
    const junk = (n: number): string => Array.from({ length: n }, () => String.fromCharCode(Math.floor(random() * 0xd7ff))).join('');
    const bodies = [
      () => junk(Math.floor(random() * 200)),
      () => '{'.repeat(Math.floor(random() * 5000)),
      () => JSON.stringify({ Name: pick([null, 5, '', 'bad name', 'x'.repeat(300), {}]) }),
      () => JSON.stringify({ Name: 'keep', ID: 'keep-1', Port: pick([-1, 1e9, 'x', 1.5]) }),
      () => JSON.stringify({ Name: 'fz', Check: { TTL: pick(['10x', '', '-1s', '1y', 'ms', '99999999h']) } }),
      () => JSON.stringify({ Name: 'fz', Check: pick([{ Args: ['x'] }, { GRPC: 'x' }, { HTTP: 'ftp://x', Interval: '1s' }, { TCP: 'nope', Interval: '1s' }, 'str', 7]) }),
      () => JSON.stringify({ Name: 'fz', Checks: Array.from({ length: 40 }, () => ({ TTL: '1s' })) }),
      () => JSON.stringify({ Name: 'fz', Meta: { a: 1 } }),
      () => JSON.stringify({ Name: 'fz', Tags: 'notalist' }),
      () => 'x'.repeat(70 * 1024),
    ];
    const requests: (() => Promise<Response>)[] = [
      () => put(`${s.url}/v1/agent/service/register`, pick(bodies)()),
      () => put(`${s.url}/v1/agent/check/update/service:keep-1`, pick(bodies)()),
      () => put(`${s.url}/v1/session/create`, JSON.stringify({ TTL: pick(['0s', '1x', '-5s', 12, '48h']), Behavior: pick(['release', 'explode']) })),
      () => put(`${s.url}/v1/agent/service/deregister/${encodeURIComponent('ghost-' + junk(3))}`),
      () => put(`${s.url}/v1/agent/check/pass/nope-${Math.floor(random() * 1e6)}`),
      () => fetch(`${s.url}/v1/kv/${'%E0%A4%A'}`),
      () => fetch(`${s.url}/v1/health/service/keep?index=${pick(['-1', 'abc', '1.5'])}&wait=1s`),
      () => fetch(`${s.url}/v1/catalog/services?index=1&wait=${pick(['x', '10q', ''])}x`),
      () => put(`${s.url}/v1/kv/keep/other?acquire=not-a-session`, 'x'),
      () => put(`${s.url}/v1/kv/${'k'.repeat(600)}`, 'x'),
      () => put(`${s.url}/v1/kv/keep/x?flags=${pick(['-1', 'x', '1.5'])}`, 'x'),
      () => fetch(`${s.url}/v1/${junk(5).replace(/[^a-z]/g, 'q')}`),
      () => fetch(`${s.url}/v1/agent/service/register`, { method: 'DELETE' }),
    ];
    const statuses = new Map<number, number>();
    for (let i = 0; i < 1200; i++) {
      const res = await pick(requests)();
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expect(res.status, `request ${i}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `request ${i}`).toBeLessThan(500);
    }
    const after = JSON.stringify([await (await fetch(`${s.url}/v1/agent/services`)).json(), await (await fetch(`${s.url}/v1/kv/keep/me`)).json()]);
    expect(after).toBe(before);
    expect((await fetch(`${s.url}/v1/status/leader`)).status).toBe(200);
    expect(statuses.size).toBeGreaterThan(2);
  }, 60_000);
});

describe('EmbeddedRegistry with a checkpoint store', () => {
  it('never hands out a lock index (a fencing token) again after a restart', async () => {
    // Before: the index started at 1 after a restart, so the next leader's token could be
    // lower than the one the old leader still held.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-reg-'));
    try {
      const a = await EmbeddedRegistry.open({ store: new FileCheckpointStore({ dir }) });
      for (let i = 0; i < 20; i++) a.kv.put(`noise/${i}`, Buffer.from('x'));
      const s1 = a.kv.createSession({ ttlMs: 60_000 });
      expect(a.kv.put('election/leader', Buffer.from('web-1'), { acquire: s1.id })).toBe(true);
      const before = a.kv.get('election/leader')!.modifyIndex;
      await a.sync();
      const indexBefore = a.index;
      await a.close();
      const b = await EmbeddedRegistry.open({ store: new FileCheckpointStore({ dir }) });
      expect(b.index).toBeGreaterThan(indexBefore);
      const s2 = b.kv.createSession({ ttlMs: 60_000 });
      expect(b.kv.put('election/leader', Buffer.from('web-2'), { acquire: s2.id })).toBe(true); // sessions do not survive: the lock is free
      expect(b.kv.get('election/leader')!.modifyIndex).toBeGreaterThan(before);
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('remembers its services and KV across a restart', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-reg-'));
    try {
      const a = await EmbeddedRegistry.open({ store: new FileCheckpointStore({ dir }) });
      await a.register({ id: 'db-1', service: 'db', address: '10.0.0.1', port: 5432, tags: ['primary'], checks: [{ id: 'db-1-ttl', ttlMs: 60_000 }] });
      await a.pass('db-1-ttl');
      a.kv.put('config/mode', Buffer.from('active'));
      await a.checkpoint();
      await a.close();
      const b = await EmbeddedRegistry.open({ store: new FileCheckpointStore({ dir }) });
      const [h] = await b.instances('db');
      expect(h!.instance).toMatchObject({ id: 'db-1', address: '10.0.0.1', port: 5432, tags: ['primary'] });
      expect(h!.status).toBe('passing');
      expect(b.kv.get('config/mode')!.value.toString()).toBe('active');
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
