import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ToxiproxyServer } from '../../src/chaos/index.js';
import { EmbeddedRegistry, RegistryServer } from '../../src/registry/index.js';
import { CHROMIUM, describeNeeding, findServer } from '../support/servers.js';

/**
 * The attack as a real browser makes it: a page from another origin (here another port on
 * 127.0.0.1) fires the requests a browser sends without asking anyone — `no-cors` fetches with
 * a text/plain body and an auto-submitted form — at the loopback APIs.
 */
describeNeeding(CHROMIUM, 'a page from another origin in headless Chromium', () => {
  let registry: EmbeddedRegistry;
  let reg: RegistryServer;
  let toxi: ToxiproxyServer;
  let attacker: http.Server;
  let echo: net.Server;
  let browser: import('playwright-core').Browser;

  beforeAll(async () => {
    registry = new EmbeddedRegistry();
    reg = await new RegistryServer({ registry, port: 0 }).listen();
    await registry.register({ id: 'api-1', service: 'api', address: '127.0.0.1', port: 9000 });
    toxi = await new ToxiproxyServer({ port: 0 }).listen();
    echo = net.createServer((s) => s.on('error', () => {}).pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoPort = (echo.address() as AddressInfo).port;
    const page = `<!doctype html><body><form id=f method=POST enctype=text/plain action="${reg.url}/v1/kv/form-owned" target=sink><input name=a value=b></form><iframe name=sink></iframe><script>
      const shots = [
        ['${reg.url}/v1/kv/owned', 'pwned'],
        ['${reg.url}/v1/agent/service/deregister/api-1', ''],
        ['${toxi.url}/proxies', JSON.stringify({ name: 'exfil', listen: '0.0.0.0:0', upstream: '127.0.0.1:${echoPort}' })],
      ];
      Promise.all(shots.map(([u, b]) => fetch(u, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: b }).catch(() => {})))
        .then(() => { document.getElementById('f').submit(); setTimeout(() => (document.title = 'done'), 500); });
    </script></body>`;
    attacker = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
    await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: findServer(CHROMIUM)!,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await reg?.close();
    await registry?.close();
    await toxi?.close();
    attacker?.close();
    echo?.close();
  });

  it('changes nothing in the registry or the Toxiproxy API', async () => {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => document.title === 'done', undefined, { timeout: 20_000 });
    await page.close();
    expect(registry.kv.get('owned')).toBeUndefined();
    expect(registry.kv.list('')).toEqual([]);
    expect((await registry.instances('api')).map((h) => h.instance.id)).toEqual(['api-1']);
    expect(toxi.proxies.size).toBe(0);
  }, 30_000);
});
