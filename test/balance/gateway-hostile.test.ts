import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway, type GatewayRoute } from '../../src/balance/index.js';

const run = promisify(execFile);

interface Upstream {
  url: string;
  paths: string[];
  bodies: number[];
  close: () => Promise<void>;
}

/** A real HTTP upstream on port 0; `answer` decides what each request gets. */
async function upstream(answer: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void): Promise<Upstream> {
  const paths: string[] = [];
  const bodies: number[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      bodies.push(body.length);
      answer(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    paths,
    bodies,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** One request on its own connection with exactly these headers; resolves with what came back (status 0: no status line). */
function get(url: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const req = http.request({ host: u.hostname, port: u.port, path, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', () => resolve({ status: 0, headers: {}, body: '' }));
    req.end();
  });
}

describe('the gateway against hostile and heavy traffic', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });
  async function gatewayFor(ups: Upstream[], route: Partial<GatewayRoute> = {}): Promise<Gateway> {
    const gw = await new Gateway({ routes: [{ path: '/', upstreams: ups.map((u) => u.url), ...route }] }).listen();
    closers.push(() => gw.close());
    return gw;
  }
  async function up(answer: Parameters<typeof upstream>[0]): Promise<Upstream> {
    const u = await upstream(answer);
    closers.push(u.close);
    return u;
  }

  it('forwards a curl -T upload (Expect: 100-continue) and ejects nobody', async () => {
    // Before: 503 "expect header not supported", and the healthy upstream was ejected for it.
    const a = await up((_q, res, body) => res.end(`got ${body.length}`));
    const gw = await gatewayFor([a]);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-upload-'));
    try {
      const file = path.join(dir, 'data.bin');
      writeFileSync(file, Buffer.alloc(300 * 1024, 1)); // curl sends Expect: 100-continue past 1 MiB… or when told to
      const { stdout } = await run('curl', ['-sS', '-H', 'Expect: 100-continue', '-T', file, '-w', ' %{http_code}', `${gw.url}/upload`]);
      expect(stdout).toBe(`got ${300 * 1024} 200`);
      expect(a.bodies).toEqual([300 * 1024]);
      expect(gw.health().routes[0]!.upstreams.every((u) => !u.ejected)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("does not blame its own connection queue on upstreams: 1000 concurrent GETs to two 300 ms upstreams all succeed", async () => {
    // Before: the per-try deadline ran while requests waited in undici's pool (128 connections
    // each): 266–456 failed with 504 and an upstream was ejected.
    const slow = (_q: http.IncomingMessage, res: http.ServerResponse): void => void setTimeout(() => res.end('ok'), 300);
    const a = await up(slow);
    const b = await up(slow);
    // A short per-try deadline (which the queue wait used to eat) and a long overall one (so a
    // slow machine's own pace cannot fail a request).
    const gw = await gatewayFor([a, b], { perTryTimeoutMs: 600, timeoutMs: 60_000 });
    const results = await Promise.all(Array.from({ length: 1000 }, () => get(gw.url, '/item')));
    const failed = results.filter((r) => r.status !== 200);
    expect(failed.length).toBe(0);
    expect(gw.health().routes[0]!.upstreams.every((u) => !u.ejected)).toBe(true);
    expect(a.paths.length + b.paths.length).toBe(1000);
  }, 30_000);

  it('sheds what it cannot queue with a clear 503, and still ejects nobody', async () => {
    // The upstream holds every answer until the test lets go, so what is queued and what is
    // shed does not depend on how fast this machine is.
    const held: http.ServerResponse[] = [];
    const a = await up((_q, res) => void held.push(res));
    const gw = await gatewayFor([a], { connections: 2, maxQueued: 10 });
    const results: { status: number; body: string }[] = [];
    const all = Array.from({ length: 60 }, () => get(gw.url, '/item').then((r) => results.push(r)));
    while (results.length < 48 || held.length < 2) await new Promise((r) => setTimeout(r, 10));
    expect(results.every((r) => r.status === 503)).toBe(true); // shed at once, while 2 are in flight and 10 queued
    expect(results[0]!.body).toMatch(/overloaded: .*maxQueued=10/);
    while (results.length < 60) {
      for (const res of held.splice(0)) res.end('ok');
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(all);
    expect(results.filter((r) => r.status === 200).length).toBe(12);
    expect(gw.health().routes[0]!.upstreams.every((u) => !u.ejected)).toBe(true);
  }, 30_000);

  it("refuses '.' and '..' segments, plain or percent-encoded, before they reach an upstream", async () => {
    const a = await up((_q, res) => res.end('upstream'));
    const gw = await new Gateway({ routes: [{ path: '/api', upstreams: [`${a.url}/public`], stripPrefix: true }] }).listen();
    closers.push(() => gw.close());
    for (const p of ['/api/../internal/secret', '/api/%2e%2e/internal', '/api/.%2e/internal', '/api/%2E%2e', '/api/./x', '/api/x/..?q=1']) {
      const r = await get(gw.url, p);
      expect(r.status, p).toBe(400);
      expect(r.body).toMatch(/'\.' or '\.\.' segment/);
    }
    expect(a.paths).toEqual([]);
    expect((await get(gw.url, '/api/a..b/.hidden?x=../y')).status).toBe(200); // dots inside names and in the query are fine
    expect(a.paths).toEqual(['/public/a..b/.hidden?x=../y']);
  });

  it('removes response headers the upstream names in Connection', async () => {
    const a = await up((_q, res) => {
      res.writeHead(200, { connection: 'x-internal-token, keep-alive', 'x-internal-token': 'secret', 'x-public': 'yes' });
      res.end('ok');
    });
    const gw = await gatewayFor([a]);
    const r = await get(gw.url, '/');
    expect(r.status).toBe(200);
    expect(r.headers['x-internal-token']).toBeUndefined();
    expect(r.headers['x-public']).toBe('yes');
  });

  it('tries a GET elsewhere when an upstream stalls after its headers, and answers a status when all stall', async () => {
    // Before: the client got an empty reply with no status after ~11 s, and no other upstream was tried.
    const stall = await up((_q, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial ');
    });
    const fine = await up((_q, res) => res.end('whole'));
    const gw = await gatewayFor([stall, fine], { bodyTimeoutMs: 300, perTryTimeoutMs: 10_000, timeoutMs: 60_000, strategy: 'round-robin' });
    for (let i = 0; i < 4; i++) {
      const r = await get(gw.url, '/doc');
      expect(r.status).toBe(200);
      expect(r.body).toBe('whole');
    }
    expect(stall.paths.length).toBeGreaterThan(0);
    const only = await gatewayFor([stall], { bodyTimeoutMs: 300, perTryTimeoutMs: 10_000, timeoutMs: 60_000 });
    const r = await get(only.url, '/doc');
    expect(r.status).toBe(504);
    expect(r.body).toMatch(/steadfast gateway/);
  });

  it('refuses admin pages to rebound host names', async () => {
    const a = await up((_q, res) => res.end('ok'));
    const gw = await gatewayFor([a]);
    expect((await get(gw.url, '/_steadfast/health', { host: 'attacker.example' })).status).toBe(403);
    expect((await get(gw.url, '/_steadfast/health')).status).toBe(200);
  });
});
