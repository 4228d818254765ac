import net from 'node:net';
import { Toxiproxy } from 'toxiproxy-node-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToxiproxyServer } from '../../src/chaos/index.js';

let echo: net.Server;
let echoPort: number;
let server: ToxiproxyServer;
let client: Toxiproxy;

beforeAll(async () => {
  echo = net.createServer((s) => {
    s.on('data', (d) => s.write(d));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as net.AddressInfo).port;
  server = await new ToxiproxyServer({ port: 0 }).listen();
  client = new Toxiproxy(server.url);
});
afterAll(async () => {
  await server.close();
  echo.close();
});

function roundTrip(port: number, data = 'ping'): Promise<{ text: string; ms: number; error?: string }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = net.connect(port, '127.0.0.1');
    s.on('data', (d) => {
      s.destroy();
      resolve({ text: d.toString(), ms: Date.now() - started });
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve({ text: '', ms: Date.now() - started, error: e.code }));
    s.write(data);
  });
}

describe('the Toxiproxy HTTP API, driven by the npm toxiproxy-node-client', () => {
  it('answers its version', async () => {
    expect(await client.getVersion()).toMatch(/^2\./);
  });

  it('creates a proxy, adds a latency toxic, updates and removes it', async () => {
    const proxy = await client.createProxy({ name: 'redis', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echoPort}` });
    const port = Number(proxy.listen.split(':').pop());
    expect((await roundTrip(port)).text).toBe('ping');
    const toxic = await proxy.addToxic({ type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 150, jitter: 0 } } as never);
    expect(toxic.name).toBe('latency_downstream');
    expect((await roundTrip(port)).ms).toBeGreaterThanOrEqual(140);
    await toxic.remove();
    // Removed: gone from the API and the proxy still carries traffic (its speed is a benchmark's business).
    expect(server.proxies.get('redis')!.toxics).toEqual([]);
    expect((await roundTrip(port)).text).toBe('ping');
    const all = await client.getAll();
    expect(Object.keys(all)).toContain('redis');
  });

  it('takes a service down by disabling its proxy, and brings it back with /reset', async () => {
    const proxy = await client.get('redis');
    const port = Number(proxy.listen.split(':').pop());
    await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream, name: 'redis' } as never);
    expect((await roundTrip(port)).error).toBe('ECONNREFUSED');
    await client.reset();
    expect((await roundTrip(port)).text).toBe('ping');
  });

  it('populates several proxies at once', async () => {
    const proxies = await client.populate([
      { name: 'a', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echoPort}` },
      { name: 'b', listen: '127.0.0.1:0', upstream: `127.0.0.1:${echoPort}` },
    ] as never);
    expect(Object.keys(proxies).sort()).toEqual(['a', 'b']);
  });

  it('answers 404 for an unknown proxy and 400 for a bad toxic, naming the field', async () => {
    const res = await fetch(`${server.url}/proxies/nope`);
    expect(res.status).toBe(404);
    const bad = await fetch(`${server.url}/proxies/a/toxics`, { method: 'POST', body: JSON.stringify({ type: 'latency', attributes: { latency: -5 } }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/attributes\.latency must be a number ≥ 0/);
    const dup = await fetch(`${server.url}/proxies`, { method: 'POST', body: JSON.stringify({ name: 'a', upstream: `127.0.0.1:${echoPort}` }) });
    expect(dup.status).toBe(409);
  });
});
