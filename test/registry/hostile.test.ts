import net from 'node:net';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedRegistry, HttpRegistry, RegistryServer } from '../../src/registry/index.js';

/** One raw HTTP/1.1 request with exactly the headers given (fetch would set Host and Origin itself). */
function raw(url: string, method: string, path: string, headers: Record<string, string>, body = ''): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, setHost: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('RegistryServer against requests a browser sends for another origin', () => {
  let registry: EmbeddedRegistry;
  let server: RegistryServer;
  let host: string;
  beforeEach(async () => {
    registry = new EmbeddedRegistry();
    server = await new RegistryServer({ registry, port: 0 }).listen();
    host = `127.0.0.1:${server.port}`;
    await registry.register({ id: 'api-1', service: 'api', address: '127.0.0.1', port: 9000 });
  });
  afterEach(async () => {
    await server.close();
    await registry.close();
  });

  it('refuses a no-cors text/plain POST from another origin (a simple request needs no preflight)', async () => {
    const forged = { host, origin: 'http://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain;charset=UTF-8' };
    const kv = await raw(server.url, 'POST', '/v1/kv/owned', forged, 'pwned');
    const dereg = await raw(server.url, 'POST', '/v1/agent/service/deregister/api-1', forged);
    expect(kv.status).toBe(405); // Consul takes PUT here, not POST
    expect(dereg.status).toBe(405);
    expect(registry.kv.get('owned')).toBeUndefined();
    expect((await registry.instances('api')).length).toBe(1);
  });

  it('refuses a state-changing request whose Origin or Sec-Fetch-Site says another site', async () => {
    const r1 = await raw(server.url, 'PUT', '/v1/kv/owned', { host, origin: 'http://evil.example' }, 'x');
    const r2 = await raw(server.url, 'PUT', '/v1/agent/service/deregister/api-1', { host, 'sec-fetch-site': 'same-site' });
    const r3 = await raw(server.url, 'PUT', '/v1/kv/owned', { host, origin: 'null' }, 'x');
    expect([r1.status, r2.status, r3.status]).toEqual([403, 403, 403]);
    expect(r1.body).toMatch(/cross-site request forgery/);
    expect(registry.kv.get('owned')).toBeUndefined();
    expect((await registry.instances('api')).length).toBe(1);
  });

  it('refuses a Host that is not an address or localhost (DNS rebinding), reads included', async () => {
    const read = await raw(server.url, 'GET', '/v1/agent/services', { host: `attacker.example:${server.port}` });
    const write = await raw(server.url, 'PUT', '/v1/kv/owned', { host: `attacker.example:${server.port}` }, 'x');
    expect([read.status, write.status]).toEqual([403, 403]);
    expect(read.body).toMatch(/DNS rebinding/);
    expect(registry.kv.get('owned')).toBeUndefined();
  });

  it('still serves clients that are not browsers, same-origin pages and configured names', async () => {
    expect((await raw(server.url, 'PUT', '/v1/kv/a', { host }, '1')).status).toBe(200); // curl
    expect((await raw(server.url, 'PUT', '/v1/kv/b', { host: `localhost:${server.port}` }, '1')).status).toBe(200);
    expect((await raw(server.url, 'PUT', '/v1/kv/c', { host, origin: `http://${host}`, 'sec-fetch-site': 'same-origin' }, '1')).status).toBe(200);
    const named = await new RegistryServer({ registry, port: 0, allowedHosts: ['registry.internal'], allowedOrigins: ['http://ui.internal:8080'] }).listen();
    try {
      expect((await raw(named.url, 'PUT', '/v1/kv/d', { host: 'registry.internal:8500', origin: 'http://ui.internal:8080' }, '1')).status).toBe(200);
      expect((await raw(named.url, 'GET', '/v1/kv/d', { host: 'other.internal' })).status).toBe(403);
    } finally {
      await named.close();
    }
  });

  it('rejects bad guard options, naming them', () => {
    expect(() => new RegistryServer({ registry, allowedHosts: 'x' as never })).toThrow(/allowedHosts must be an array of non-empty strings/);
    expect(() => new RegistryServer({ registry, requestTimeoutMs: 5 })).toThrow(/requestTimeoutMs must be an integer/);
    expect(() => new RegistryServer({ registry, minCheckIntervalMs: 0 })).toThrow(/minCheckIntervalMs must be an integer/);
  });
});

describe('RegistryServer against slow and greedy clients', () => {
  it('cuts off connections that send headers and no body, while heartbeats on open connections go on', async () => {
    const registry = new EmbeddedRegistry();
    const server = await new RegistryServer({ registry, port: 0, requestTimeoutMs: 1000, maxConnections: 64 }).listen();
    const client = new HttpRegistry({ url: server.url });
    await client.register({ id: 'svc-1', service: 'svc', address: '127.0.0.1', port: 1, checks: [{ id: 'svc-1-ttl', ttlMs: 5000 }] });
    await client.pass('svc-1-ttl');
    // Before: requestTimeout was the longest blocking wait + 30 s (630 s): stalled bodies held a
    // descriptor each for ten minutes.
    const stalled = Array.from({ length: 80 }, () => net.connect(server.port, '127.0.0.1'));
    const closed = stalled.map((s) => new Promise<void>((r) => s.once('close', () => r())));
    for (const s of stalled) {
      s.on('error', () => {});
      s.resume(); // read what the server says (a 408), so 'close' follows its FIN
      s.write(`PUT /v1/kv/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n`);
    }
    // The healthy service keeps heartbeating on the connection it already has, while the stalled
    // ones are open (each pass() would throw if it were refused).
    for (let i = 0; i < 5; i++) await client.pass('svc-1-ttl');
    await Promise.all(closed); // each is cut off (bounded by the test's timeout, not by a speed)
    expect((await registry.healthy('svc')).length).toBe(1);
    expect(registry.kv.get('slow')).toBeUndefined();
    // And a fresh client gets in afterwards.
    expect((await fetch(`${server.url}/v1/kv/after`, { method: 'PUT', body: 'ok' })).status).toBe(200);
    await client.close();
    await server.close();
    await registry.close();
  }, 30_000);

  it('raises an HTTP check interval below 1 s to 1 s, as Consul does, so a registration cannot aim a flood', async () => {
    let hits = 0;
    const target = http.createServer((_req, res) => {
      hits++;
      res.end('ok');
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const port = (target.address() as AddressInfo).port;
    const registry = new EmbeddedRegistry();
    const server = await new RegistryServer({ registry, port: 0 }).listen();
    const checks = Array.from({ length: 16 }, (_, i) => ({ CheckID: `c${i}`, HTTP: `http://127.0.0.1:${port}/`, Interval: '1ms' }));
    const res = await fetch(`${server.url}/v1/agent/service/register`, { method: 'PUT', body: JSON.stringify({ Name: 'flood', ID: 'flood-1', Checks: checks }) });
    expect(res.status).toBe(200);
    expect((await registry.instances('flood'))[0]!.instance.checks!.every((c) => c.intervalMs === 1000)).toBe(true);
    const since = performance.now();
    await new Promise((r) => setTimeout(r, 1500));
    // Before: ~600 requests a second. Now each of the 16 checks probes at most once per second,
    // plus its first probe at registration: bounded by the time that really passed, so a slow
    // machine gives fewer, never more.
    const elapsedS = (performance.now() - since) / 1000;
    expect(hits).toBeLessThanOrEqual(16 * (Math.floor(elapsedS) + 2));
    const tooMany = await fetch(`${server.url}/v1/agent/service/register`, { method: 'PUT', body: JSON.stringify({ Name: 'flood', ID: 'flood-2', Checks: [...checks, { CheckID: 'c16', TTL: '10s' }] }) });
    expect(tooMany.status).toBe(400);
    expect(await tooMany.text()).toMatch(/Checks must be an array of at most 16/);
    await server.close();
    await registry.close();
    await new Promise<void>((r) => target.close(() => r()));
  });
});
