import http from 'node:http';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ToxiproxyServer } from '../../src/chaos/index.js';
import { freePort } from '../../src/core/http.js';

function call(url: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; json: { error?: string } & Record<string, unknown> }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers: { ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...headers } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, json: text ? (JSON.parse(text) as never) : ({} as never) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the Toxiproxy API against hostile requests', () => {
  let server: ToxiproxyServer;
  let echo: net.Server;
  let echoPort: number;
  beforeEach(async () => {
    echo = net.createServer((s) => {
      s.on('error', () => {});
      s.pipe(s);
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as net.AddressInfo).port;
    server = await new ToxiproxyServer({ port: 0 }).listen();
  });
  afterEach(async () => {
    await server.close();
    echo.close();
  });

  it('refuses a cross-origin no-cors POST that would open a proxy on 0.0.0.0 to a loopback service', async () => {
    const body = JSON.stringify({ name: 'exfil', listen: '0.0.0.0:0', upstream: `127.0.0.1:${echoPort}` });
    const r = await call(server.url, 'POST', '/proxies', body, { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain' });
    expect(r.status).toBe(403);
    expect(r.json.error).toMatch(/cross-site request forgery/);
    expect(server.proxies.size).toBe(0);
    const rebound = await call(server.url, 'GET', '/proxies', undefined, { host: 'attacker.example:8474' });
    expect(rebound.status).toBe(403);
  });

  it('refuses a proxy whose upstream is itself, or leads back to it through another proxy', async () => {
    const port = await freePort();
    const self = await call(server.url, 'POST', '/proxies', JSON.stringify({ name: 'loop', listen: `127.0.0.1:${port}`, upstream: `localhost:${port}` }));
    expect(self.status).toBe(400);
    expect(self.json.error).toMatch(/leads back to the proxy itself \(loop → loop\)/);
    expect(server.proxies.size).toBe(0);
    const [pa, pb] = [await freePort(), await freePort()];
    expect((await call(server.url, 'POST', '/proxies', JSON.stringify({ name: 'a', listen: `127.0.0.1:${pa}`, upstream: `127.0.0.1:${pb}` }))).status).toBe(201);
    const b = await call(server.url, 'POST', '/proxies', JSON.stringify({ name: 'b', listen: `127.0.0.1:${pb}`, upstream: `0.0.0.0:${pa}` }));
    expect(b.status).toBe(400);
    expect(b.json.error).toMatch(/b → a → b/);
    const moved = await call(server.url, 'POST', '/proxies/a', JSON.stringify({ upstream: `127.0.0.1:${pa}` }));
    expect(moved.status).toBe(400);
    expect(server.proxies.get('a')!.upstream).toBe(`127.0.0.1:${pb}`);
  });

  it("refuses toxic times past Node's timer limit instead of firing them after 1 ms", async () => {
    await call(server.url, 'POST', '/proxies', JSON.stringify({ name: 'p', upstream: `127.0.0.1:${echoPort}` }));
    const r = await call(server.url, 'POST', '/proxies/p/toxics', JSON.stringify({ type: 'latency', attributes: { latency: 2 ** 31 } }));
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/attributes\.latency must be .*≤ 2147483647/);
    const t = await call(server.url, 'POST', '/proxies/p/toxics', JSON.stringify({ type: 'timeout', attributes: { timeout: 2 ** 31 - 1 } }));
    expect(t.status).toBe(200);
    const huge = await call(server.url, 'POST', '/proxies/p/toxics', JSON.stringify({ type: 'latency', name: 'x'.repeat(10_000) }));
    expect(huge.status).toBe(400);
    expect(huge.json.error).toMatch(/name must be 1–256 characters/);
  });

  it('answers a null or wrongly shaped body with 400 naming what it expected, not an internal TypeError', async () => {
    await call(server.url, 'POST', '/proxies', JSON.stringify({ name: 'p', upstream: `127.0.0.1:${echoPort}` }));
    for (const [path, body] of [['/proxies', 'null'], ['/proxies/p', 'null'], ['/proxies/p/toxics', 'null'], ['/proxies/p/toxics', '[1]'], ['/populate', '{}']] as const) {
      const r = await call(server.url, 'POST', path, body);
      expect(r.status, `${path} ${body}`).toBe(400);
      expect(r.json.error, `${path} ${body}`).toMatch(/expected a JSON (object|array)|the body must be/);
      expect(r.json.error).not.toMatch(/Cannot read|TypeError/);
    }
  });

  it('populates all or nothing: a rejected list leaves the existing proxies running as they were', async () => {
    const port = await freePort();
    await call(server.url, 'POST', '/proxies', JSON.stringify({ name: 'keep', listen: `127.0.0.1:${port}`, upstream: `127.0.0.1:${echoPort}` }));
    await call(server.url, 'POST', '/proxies/keep/toxics', JSON.stringify({ type: 'latency', attributes: { latency: 5 } }));
    const taken = await freePort();
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(taken, '127.0.0.1', r));
    try {
      // A new definition of 'keep', then one that cannot listen: before, 'keep' was deleted anyway.
      const bad = JSON.stringify([
        { name: 'keep', listen: `127.0.0.1:${port}`, upstream: `127.0.0.1:${echoPort + 0}`, enabled: false },
        { name: 'other', listen: `127.0.0.1:${taken}`, upstream: `127.0.0.1:${echoPort}` },
      ]);
      const r = await call(server.url, 'POST', '/populate', bad);
      expect(r.status).toBe(409);
      expect([...server.proxies.keys()]).toEqual(['keep']);
      const keep = server.proxies.get('keep')!;
      expect(keep.enabled).toBe(true);
      expect(keep.toxics.map((t) => t.type)).toEqual(['latency']);
      const echoed = await new Promise<string>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => s.write('still here'));
        s.on('data', (d) => (s.destroy(), resolve(d.toString())));
        s.on('error', reject);
      });
      expect(echoed).toBe('still here');
      const invalid = await call(server.url, 'POST', '/populate', JSON.stringify([{ name: 'keep', upstream: `127.0.0.1:${echoPort}` }, { name: 'bad name!', upstream: 'x' }]));
      expect(invalid.status).toBe(400);
      expect(invalid.json.error).toMatch(/populate: \[1\]: proxy: name must be/);
      expect(server.proxies.get('keep')).toBe(keep);
    } finally {
      blocker.close();
    }
  });
});
