import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../src/balance/index.js';
import { EmbeddedRegistry } from '../../src/registry/index.js';
import { bundleFixture, Lines } from '../support/bundle.js';
import { freePort } from '../support/servers.js';

let fixture: { file: string; cleanup: () => void };
beforeAll(async () => {
  fixture = await bundleFixture(path.join(import.meta.dirname, 'fixtures/backend.ts'));
});
afterAll(() => fixture.cleanup());

interface Backend {
  id: string;
  port: number;
  url: string;
  child: ChildProcess;
  lines: Lines;
}

async function backend(id: string, port?: number): Promise<Backend> {
  const p = port ?? (await freePort());
  const child = spawn(process.execPath, [fixture.file, id, String(p)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = new Lines();
  child.stdout!.on('data', (c: Buffer) => lines.feed(c));
  await lines.waitFor(/^ready \d+$/);
  return { id, port: p, url: `http://127.0.0.1:${p}`, child, lines };
}

const exited = (c: ChildProcess): Promise<void> => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

/** Steady load: `concurrency` loops of GETs until stopped; records every status. */
function load(url: string, concurrency = 4, path = '/items') {
  const statuses: number[] = [];
  const errors: string[] = [];
  let running = true;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      try {
        const res = await request(url + path);
        await res.body.dump();
        statuses.push(res.statusCode);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  });
  return {
    statuses,
    errors,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Gateway in front of three real backend processes', () => {
  let backends: Backend[] = [];
  let gateway: Gateway;
  afterEach(async () => {
    await gateway?.close();
    for (const b of backends) {
      if (b.child.exitCode === null && b.child.signalCode === null) {
        b.child.kill('SIGCONT');
        b.child.kill('SIGKILL');
      }
      await exited(b.child);
    }
    backends = [];
  });

  async function setup(routeExtra: Partial<ConstructorParameters<typeof Gateway>[0]['routes'][0]> = {}): Promise<void> {
    backends = await Promise.all(['a', 'b', 'c'].map((id) => backend(id)));
    gateway = await new Gateway({
      routes: [{ path: '/', upstreams: backends.map((b) => b.url), perTryTimeoutMs: 250, timeoutMs: 3000, outlier: { consecutiveFailures: 3, baseEjectionMs: 1000 }, ...routeExtra }],
    }).listen();
  }

  it('loses no idempotent request when a backend is SIGKILLed under load', async () => {
    await setup();
    const l = load(gateway.url);
    await sleep(300);
    backends[1]!.child.kill('SIGKILL');
    await sleep(700);
    await l.stop();
    expect(l.errors).toEqual([]);
    expect(l.statuses.length).toBeGreaterThan(50);
    expect(l.statuses.every((s) => s === 200)).toBe(true);
  });

  it('fails over from a SIGSTOPped backend, ejects it, and takes it back after SIGCONT', async () => {
    await setup();
    const l = load(gateway.url);
    await sleep(200);
    const frozen = backends[2]!;
    frozen.child.kill('SIGSTOP');
    await sleep(1200);
    const view = gateway.health().routes[0]!.upstreams.find((u) => u.url === frozen.url)!;
    expect(view.ejected).toBe(true);
    frozen.child.kill('SIGCONT');
    await sleep(2500);
    await l.stop();
    expect(l.errors).toEqual([]);
    expect(l.statuses.every((s) => s === 200)).toBe(true);
    // After its ejection ran out it served again.
    const served = await Promise.all(Array.from({ length: 30 }, () => request(gateway.url + '/items').then((r) => (r.body.dump(), r.headers['x-steadfast-upstream']))));
    expect(served).toContain(frozen.url);
  });

  it('answers a fast, clear 503 when every backend is down, and recovers when they return', async () => {
    await setup();
    for (const b of backends) b.child.kill('SIGKILL');
    await Promise.all(backends.map((b) => exited(b.child)));
    const res = await request(gateway.url + '/items');
    const text = await res.body.text();
    expect(res.statusCode).toBe(503);
    // Fast because every attempt ended on a refused connection, none on a timeout it waited out.
    expect(text).toMatch(/steadfast gateway: no upstream could answer; tried .*connect-refused/);
    expect(text).not.toMatch(/timeout/);
    const health = await request(gateway.url + '/_steadfast/health');
    await health.body.dump();
    backends = await Promise.all(backends.map((b) => backend(b.id, b.port)));
    await sleep(1100); // ejections run out
    const statuses = await Promise.all(Array.from({ length: 10 }, () => request(gateway.url + '/items').then((r) => (r.body.dump(), r.statusCode))));
    expect(statuses.every((s) => s === 200)).toBe(true);
  });

  it('never delivers a non-idempotent request twice, even while backends die', async () => {
    await setup();
    const ids: string[] = [];
    const statuses: number[] = [];
    const posts = (async () => {
      for (let i = 0; i < 150; i++) {
        const id = `req-${i}`;
        ids.push(id);
        try {
          const res = await request(gateway.url + '/orders', { method: 'POST', headers: { 'x-request-id': id, 'content-type': 'application/json' }, body: `{"n":${i}}` });
          await res.body.dump();
          statuses.push(res.statusCode);
        } catch {
          statuses.push(0);
        }
      }
    })();
    await sleep(100);
    backends[0]!.child.kill('SIGKILL');
    await posts;
    const delivered = backends.flatMap((b) => b.lines.all.filter((l) => l.startsWith('got POST ')).map((l) => l.slice(9)));
    const counts = new Map<string, number>();
    for (const d of delivered) counts.set(d, (counts.get(d) ?? 0) + 1);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(100);
  });

  it('strips hop-by-hop headers, sets X-Forwarded-*, limits bodies, and serves health and metrics', async () => {
    await setup();
    // node:http, not undici: undici will not send a Connection header that names other headers.
    const http = await import('node:http');
    const raw = await new Promise<string>((resolve, reject) => {
      const r = http.request(gateway.url + '/echo?x=1', { method: 'PUT', headers: { connection: 'keep-alive, x-secret', 'x-secret': 'hop', 'content-type': 'text/plain' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c));
        res.on('end', () => resolve(text));
      });
      r.on('error', reject);
      r.end('hello');
    });
    const body = JSON.parse(raw) as { path: string; body: string; forwardedFor: string; secret: string | null };
    expect(body.secret).toBeNull(); // named in Connection: hop-by-hop, not forwarded
    expect(body.path).toBe('/echo?x=1');
    expect(body.body).toBe('hello');
    expect(body.forwardedFor).toMatch(/127\.0\.0\.1/);
    const big = await request(gateway.url + '/x', { method: 'POST', body: Buffer.alloc(2 * 1024 * 1024) });
    expect(big.statusCode).toBe(413);
    await big.body.dump();
    const health = (await (await request(gateway.url + '/_steadfast/health')).body.json()) as { status: string; routes: { upstreams: unknown[] }[] };
    expect(health.status).toBe('passing');
    expect(health.routes[0]!.upstreams).toHaveLength(3);
    const metrics = await (await request(gateway.url + '/metrics')).body.text();
    expect(metrics).toMatch(/steadfast_gateway_requests_total\{route="\/",code="200"\} \d+/);
    expect(metrics).toMatch(/steadfast_gateway_upstream_attempts_total/);
    // The balancer's state, read when scraped: three usable upstreams, none ejected.
    expect(metrics).toMatch(/^steadfast_gateway_upstreams\{route="\/",state="usable"\} 3$/m);
    expect(metrics).toMatch(/^steadfast_gateway_upstreams\{route="\/",state="ejected"\} 0$/m);
    expect(metrics).toMatch(/^steadfast_gateway_fail_static\{route="\/"\} 0$/m);
  });
});

describe('Gateway routing by service name through the registry', () => {
  it('sends traffic to the healthy instances and away from one that turns critical', async () => {
    const a = await backend('svc-a');
    const b = await backend('svc-b');
    const registry = new EmbeddedRegistry();
    await registry.register({ id: 'svc-a', service: 'web', address: '127.0.0.1', port: a.port, checks: [{ id: 'a-ttl', ttlMs: 60_000, status: 'passing' }] });
    await registry.register({ id: 'svc-b', service: 'web', address: '127.0.0.1', port: b.port, checks: [{ id: 'b-ttl', ttlMs: 60_000, status: 'passing' }] });
    const gateway = await new Gateway({ registry, routes: [{ path: '/api', service: 'web', stripPrefix: true }] }).listen();
    try {
      const seen = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const res = await request(gateway.url + '/api/items');
        seen.add(((await res.body.json()) as { id: string }).id);
      }
      expect([...seen].sort()).toEqual(['svc-a', 'svc-b']);
      await registry.fail('b-ttl', 'draining');
      await sleep(20);
      for (let i = 0; i < 10; i++) {
        const res = await request(gateway.url + '/api/items');
        const json = (await res.body.json()) as { id: string; path: string };
        expect(json.id).toBe('svc-a');
        expect(json.path).toBe('/items');
      }
    } finally {
      await gateway.close();
      await registry.close();
      a.child.kill('SIGKILL');
      b.child.kill('SIGKILL');
    }
  });
});

describe('Gateway proxying details (in-process upstreams)', () => {
  it('streams a large body with backpressure, replays a GET after a 503, answers HEAD, and survives a client that leaves mid-body', async () => {
    const http = await import('node:http');
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    let slowClosed = 0;
    const good = http.createServer((req, res) => {
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        // chunked, in pieces, so the gateway streams instead of gathering
        let off = 0;
        const push = (): void => {
          while (off < big.length) {
            const ok = res.write(big.subarray(off, off + 64 * 1024));
            off += 64 * 1024;
            if (!ok) return void res.once('drain', push);
          }
          res.end();
        };
        push();
        return;
      }
      if (req.url === '/slow') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const t = setInterval(() => res.write(Buffer.alloc(64 * 1024, 1)), 5);
        res.on('close', () => {
          clearInterval(t);
          slowClosed++;
        });
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'x-from': 'good' });
      res.end(req.method === 'HEAD' ? undefined : 'ok');
    });
    const failing = http.createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('overloaded');
    });
    const listenOn = (s: import('node:http').Server): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));
    const [gp, fp] = [await listenOn(good), await listenOn(failing)];
    const gateway = await new Gateway({ routes: [{ path: '/', upstreams: [`http://127.0.0.1:${fp}`, `http://127.0.0.1:${gp}`], strategy: 'round-robin' }] }).listen();
    try {
      // every GET answers 200: a 503 from the failing upstream is replayed on the good one
      for (let i = 0; i < 6; i++) {
        const r = await request(gateway.url + '/x');
        expect(r.statusCode).toBe(200);
        expect(r.headers['x-from']).toBe('good');
        expect(await r.body.text()).toBe('ok');
      }
      const head = await request(gateway.url + '/x', { method: 'HEAD' });
      expect(head.statusCode).toBe(200);
      await head.body.dump();
      // 3 MiB, streamed through, byte for byte (read slowly, so backpressure has to work)
      const r = await request(gateway.url + '/big');
      expect(r.statusCode).toBe(200);
      let got = 0;
      let wrong = 0;
      for await (const chunk of r.body) {
        for (let i = 0; i < chunk.length; i += 4096) if (chunk[i] !== 7) wrong++;
        got += chunk.length;
        if (got % (512 * 1024) < 65536) await new Promise((res) => setTimeout(res, 2));
      }
      expect(got).toBe(big.length);
      expect(wrong).toBe(0);
      // a client that goes away mid-body: the upstream response is abandoned, the gateway keeps serving
      const ac = new AbortController();
      const slow = await request(gateway.url + '/slow', { signal: ac.signal });
      let seen = 0;
      await expect(
        (async () => {
          for await (const c of slow.body) {
            seen += c.length;
            if (seen > 256 * 1024) ac.abort();
          }
        })(),
      ).rejects.toThrow();
      await expect.poll(() => slowClosed, { timeout: 5000 }).toBe(1);
      const after = await request(gateway.url + '/x');
      expect(after.statusCode).toBe(200);
      await after.body.dump();
    } finally {
      await gateway.close();
      good.closeAllConnections();
      failing.closeAllConnections();
      await new Promise((r) => good.close(r));
      await new Promise((r) => failing.close(r));
    }
  });

  it('consistent-hash routes key on x-session-key by default: one session, one upstream', async () => {
    const http = await import('node:http');
    const servers = Array.from({ length: 3 }, (_, i) => http.createServer((_req, res) => res.end(String(i))));
    const ports = await Promise.all(servers.map((s) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)))));
    const gateway = await new Gateway({ routes: [{ path: '/', upstreams: ports.map((p) => `http://127.0.0.1:${p}`), strategy: 'consistent-hash' }] }).listen();
    try {
      const seenBy = new Map<string, Set<string>>();
      for (let i = 0; i < 60; i++) {
        const session = `s${i % 6}`;
        const r = await request(gateway.url + '/x', { headers: { 'x-session-key': session } });
        const up = String(r.headers['x-steadfast-upstream']);
        await r.body.dump();
        if (!seenBy.has(session)) seenBy.set(session, new Set());
        seenBy.get(session)!.add(up);
      }
      for (const ups of seenBy.values()) expect(ups.size).toBe(1);
      expect(new Set([...seenBy.values()].map((s) => [...s][0])).size).toBeGreaterThan(1); // sessions spread over upstreams
    } finally {
      await gateway.close();
      for (const s of servers) await new Promise((r) => s.close(r));
    }
  });

  it('does not count clients that leave mid-answer against the upstream (a load tool closing its connections ejects nothing)', async () => {
    const http = await import('node:http');
    const servers = Array.from({ length: 3 }, () =>
      http.createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const t = setInterval(() => res.write(Buffer.alloc(64 * 1024, 1)), 5);
        res.on('close', () => clearInterval(t));
      }),
    );
    const ports = await Promise.all(servers.map((s) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)))));
    const gateway = await new Gateway({ routes: [{ path: '/', upstreams: ports.map((p) => `http://127.0.0.1:${p}`), strategy: 'round-robin' }] }).listen();
    try {
      // 7 per upstream: more than the 5 failures in a row that eject one.
      for (let i = 0; i < 21; i++) {
        const ac = new AbortController();
        const r = await request(gateway.url + '/stream', { signal: ac.signal });
        expect(r.statusCode).toBe(200);
        await expect(
          (async () => {
            for await (const _ of r.body) ac.abort();
          })(),
        ).rejects.toThrow();
      }
      // Every abandoned answer has been settled (its upstream connection closed) before we look.
      await expect.poll(() => gateway.health().routes[0]!.upstreams.every((u) => u.outstanding === 0), { timeout: 10_000 }).toBe(true);
      const view = gateway.health().routes[0]!.upstreams;
      expect(view.map((u) => u.ejected)).toEqual([false, false, false]);
      expect(view.map((u) => u.failures)).toEqual([0, 0, 0]);
      expect(view.map((u) => u.requests)).toEqual([7, 7, 7]);
      const metrics = await (await request(gateway.url + '/metrics')).body.text();
      expect(metrics).toMatch(/steadfast_gateway_ejections_total(\{[^}]*\})? 0\b/);
    } finally {
      await gateway.close();
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    }
  });
});

describe('Gateway shedding with a route concurrency limit', () => {
  it('answers 503 + Retry-After at once past the limit, never sheds its own health page, and serves again when there is room', async () => {
    const http = await import('node:http');
    const held: (() => void)[] = [];
    const upstream = http.createServer((req, res) => {
      req.resume();
      held.push(() => res.end('done'));
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const port = (upstream.address() as { port: number }).port;
    const gateway = await new Gateway({ routes: [{ path: '/', upstreams: [`http://127.0.0.1:${port}`], concurrencyLimit: { algorithm: 'aimd', initialLimit: 1, maxLimit: 1 } }] }).listen();
    try {
      const first = request(`${gateway.url}/slow`);
      await expect.poll(() => held.length, { timeout: 10_000 }).toBe(1); // in flight at the upstream
      const shed = await request(`${gateway.url}/other`, { method: 'POST', body: 'x'.repeat(10_000) });
      expect(shed.statusCode).toBe(503);
      expect(shed.headers['retry-after']).toMatch(/^\d+$/);
      expect(shed.headers['x-steadfast-gateway']).toBe('shed');
      expect(await shed.body.text()).toMatch(/adaptiveLimit: 1 calls in flight, at the limit of 1/);
      expect(held.length).toBe(1); // the shed request never reached the upstream
      const health = await request(`${gateway.url}/_steadfast/health`);
      expect(health.statusCode).toBe(200);
      await health.body.dump();
      held.shift()!();
      const r1 = await first;
      expect([r1.statusCode, await r1.body.text()]).toEqual([200, 'done']);
      const again = request(`${gateway.url}/after`);
      await expect.poll(() => held.length, { timeout: 10_000 }).toBe(1);
      held.shift()!();
      expect((await again).statusCode).toBe(200);
      const metrics = await (await request(gateway.url + '/metrics')).body.text();
      expect(metrics).toMatch(/steadfast_gateway_shed_total\{route="\/"\} 1\b/);
    } finally {
      for (const h of held) h();
      await gateway.close();
      upstream.closeAllConnections();
      await new Promise((r) => upstream.close(r));
    }
  });

  it("shrinks the route's limit when upstreams answer 503, not when none can be reached", async () => {
    const http = await import('node:http');
    const overloaded = http.createServer((req, res) => {
      req.resume();
      res.writeHead(503, { 'retry-after': '1' }).end('busy');
    });
    await new Promise<void>((r) => overloaded.listen(0, '127.0.0.1', () => r()));
    const busyPort = (overloaded.address() as { port: number }).port;
    // A port nothing listens on: connection refused, as from a node that is down.
    const downPort = await freePort();
    const limit = { algorithm: 'aimd' as const, initialLimit: 20 };
    const gateway = await new Gateway({
      routes: [
        { path: '/busy', upstreams: [`http://127.0.0.1:${busyPort}`], maxAttempts: 1, concurrencyLimit: limit },
        { path: '/down', upstreams: [`http://127.0.0.1:${downPort}`], maxAttempts: 1, concurrencyLimit: limit },
      ],
    }).listen();
    try {
      for (const path of ['/busy', '/down']) {
        for (let i = 0; i < 3; i++) {
          const r = await request(`${gateway.url}${path}/x`);
          expect(r.statusCode, path).toBe(503);
          await r.body.dump();
        }
      }
      const [busy, down] = gateway.routeStats();
      expect(busy!.limit).toBeLessThan(20); // three drops: 20 × 0.9³
      expect(down!.limit).toBe(20);
      expect(busy!.shed + down!.shed).toBe(0);
    } finally {
      await gateway.close();
      overloaded.closeAllConnections();
      await new Promise((r) => overloaded.close(r));
    }
  });

  it('rejects a concurrencyLimit that is not adaptiveLimit options, naming it', () => {
    expect(() => new Gateway({ routes: [{ path: '/', upstreams: ['http://127.0.0.1:1'], concurrencyLimit: 5 as never }] })).toThrow(/routes\[0\]\.concurrencyLimit must be adaptiveLimit options/);
    expect(() => new Gateway({ routes: [{ path: '/', upstreams: ['http://127.0.0.1:1'], concurrencyLimit: { algorithm: 'vegas' as never } }] })).toThrow(/algorithm must be one of 'gradient2', 'aimd'/);
  });
});

describe('Gateway and deadlines that travel (x-steadfast-deadline-ms)', () => {
  it('tells the upstream what is left of the request or of the try, whichever is sooner, drops a request whose deadline passed, and ends one by the caller’s deadline rather than its own', async () => {
    const http = await import('node:http');
    const seen: (string | undefined)[] = [];
    const held: (() => void)[] = [];
    const upstream = http.createServer((req, res) => {
      req.resume();
      seen.push(req.headers['x-steadfast-deadline-ms'] as string | undefined);
      if (req.url === '/slow') held.push(() => res.end('late'));
      else res.end('ok');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    const port = (upstream.address() as { port: number }).port;
    const gateway = await new Gateway({ routes: [{ path: '/', upstreams: [`http://127.0.0.1:${port}`], timeoutMs: 10_000, perTryTimeoutMs: 10_000 }] }).listen();
    try {
      // No header: the route's own timeout is what is left.
      const plain = await request(`${gateway.url}/a`);
      await plain.body.dump();
      expect(Number(seen.at(-1))).toBeGreaterThan(9000);
      expect(Number(seen.at(-1))).toBeLessThanOrEqual(10_000);
      // The caller's deadline is sooner: it travels on, never growing.
      const told = await request(`${gateway.url}/b`, { headers: { 'x-steadfast-deadline-ms': '3000' } });
      await told.body.dump();
      expect(Number(seen.at(-1))).toBeGreaterThan(0);
      expect(Number(seen.at(-1))).toBeLessThanOrEqual(3000);
      // Already too late: not forwarded at all.
      const count = seen.length;
      const late = await request(`${gateway.url}/c`, { headers: { 'x-steadfast-deadline-ms': '0' } });
      expect(late.statusCode).toBe(504);
      expect(await late.body.text()).toMatch(/deadline \(x-steadfast-deadline-ms: 0\) had passed when it arrived; not forwarded/);
      expect(seen.length).toBe(count);
      // A slow upstream: the answer comes by the caller's 300 ms, not the route's 10 s.
      const slow = await request(`${gateway.url}/slow`, { headers: { 'x-steadfast-deadline-ms': '300' } });
      expect(slow.statusCode).toBe(504);
      await slow.body.dump();
      // A try waits perTryTimeoutMs, then goes elsewhere: the upstream is told the try's time, not the request's.
      const perTry = await new Gateway({ routes: [{ path: '/', upstreams: [`http://127.0.0.1:${port}`], timeoutMs: 10_000, perTryTimeoutMs: 2000 }] }).listen();
      try {
        await (await request(`${perTry.url}/d`)).body.dump();
        expect(Number(seen.at(-1))).toBeGreaterThan(1000);
        expect(Number(seen.at(-1))).toBeLessThanOrEqual(2000);
      } finally {
        await perTry.close();
      }
    } finally {
      for (const h of held) h();
      await gateway.close();
      upstream.closeAllConnections();
      await new Promise((r) => upstream.close(r));
    }
  });
});

describe('Gateway and polite retries (x-steadfast-retry, Retry-After)', () => {
  it('marks its retry, makes one attempt for a request already retried, and tries an upstream that shed with Retry-After last', async () => {
    const http = await import('node:http');
    const hits: { who: string; retry: string | undefined }[] = [];
    const server = (who: string, answer: (res: import('node:http').ServerResponse) => void) =>
      http.createServer((req, res) => {
        req.resume();
        hits.push({ who, retry: req.headers['x-steadfast-retry'] as string | undefined });
        answer(res);
      });
    let aSheds = true;
    const a = server('a', (res) => (aSheds ? (res.writeHead(503, { 'retry-after': '30' }), res.end('shed')) : res.end('a')));
    const b = server('b', (res) => res.end('b'));
    const ports: number[] = [];
    for (const s of [a, b]) {
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
      ports.push((s.address() as { port: number }).port);
    }
    // round-robin: the first request goes to a, which sheds; the retry goes to b.
    const gateway = await new Gateway({ routes: [{ path: '/', upstreams: ports.map((p) => `http://127.0.0.1:${p}`), strategy: 'round-robin' }] }).listen();
    try {
      const first = await request(`${gateway.url}/x`);
      expect([first.statusCode, await first.body.text()]).toEqual([200, 'b']);
      expect(hits).toEqual([{ who: 'a', retry: undefined }, { who: 'b', retry: '1' }]);
      // a asked for 30 s: for a while every request goes to b first, though a sheds no more.
      aSheds = false;
      hits.length = 0;
      for (let i = 0; i < 4; i++) await (await request(`${gateway.url}/y`)).body.dump();
      expect(hits.map((h) => h.who)).toEqual(['b', 'b', 'b', 'b']);
      // A request the caller already retried: one attempt, even when it fails.
      b.close();
      b.closeAllConnections();
      hits.length = 0;
      const marked = await request(`${gateway.url}/z`, { headers: { 'x-steadfast-retry': '1' } });
      expect(marked.statusCode).toBe(503);
      await marked.body.dump();
      expect(hits).toEqual([]); // b (first in line) refused the connection; a was not tried
    } finally {
      await gateway.close();
      for (const s of [a, b]) {
        s.closeAllConnections();
        s.close();
      }
    }
  });
});

describe('Gateway draining an upstream that leaves the registry', () => {
  it('sends it no new request, lets the one in flight finish, and then holds no connection to it', async () => {
    const http = await import('node:http');
    const held: { id: string; release: () => void }[] = [];
    const mk = (id: string) =>
      http.createServer((req, res) => {
        req.resume();
        if (req.url === '/hold') held.push({ id, release: () => res.end(`${id} held`) });
        else res.end(id);
      });
    const a = mk('a');
    const b = mk('b');
    const ports: number[] = [];
    for (const s of [a, b]) {
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
      ports.push((s.address() as { port: number }).port);
    }
    const registry = new EmbeddedRegistry();
    await registry.register({ id: 'a', service: 'web', address: '127.0.0.1', port: ports[0]! });
    await registry.register({ id: 'b', service: 'web', address: '127.0.0.1', port: ports[1]! });
    const gateway = await new Gateway({ registry, routes: [{ path: '/', service: 'web', strategy: 'round-robin' }] }).listen();
    try {
      // A request held on a, until a has left (round-robin: one of the first two lands there).
      const first = request(`${gateway.url}/hold`).then((r) => r.body.text());
      const second = request(`${gateway.url}/hold`).then((r) => r.body.text());
      await expect.poll(() => held.length).toBe(2);
      const onB = held.find((h) => h.id === 'b')!;
      onB.release();
      const inFlight = Promise.all([first, second]);
      await registry.deregister('a');
      await expect.poll(() => gateway.health().routes[0]!.upstreams.map((u) => u.id)).toEqual(['b']);
      for (let i = 0; i < 6; i++) expect(await (await request(`${gateway.url}/x`)).body.text()).toBe('b');
      held.find((h) => h.id === 'a')!.release();
      expect((await inFlight).sort()).toEqual(['a held', 'b held']);
      // Its keep-alive connection from the gateway is gone within the client's keep-alive timeout (4 s).
      await expect.poll(() => new Promise<number>((r) => (a as import('node:http').Server).getConnections((_e, n) => r(n))), { timeout: 20_000 }).toBe(0);
    } finally {
      await gateway.close();
      for (const s of [a, b]) {
        s.closeAllConnections();
        s.close();
      }
    }
  });
});
