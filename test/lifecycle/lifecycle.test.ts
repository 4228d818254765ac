import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { lifecycle, type Lifecycle } from '../../src/lifecycle/index.js';
import { EmbeddedRegistry } from '../../src/registry/index.js';
import { bundleFixture, Lines } from '../support/bundle.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A real server on port 0: probes first, then '/hold' waits for release(), anything else answers at once. */
async function serve(make: (server: http.Server) => Lifecycle) {
  const held: (() => void)[] = [];
  let lc!: Lifecycle;
  const server = http.createServer((req, res) => {
    if (lc.handle(req, res)) return;
    if (req.url === '/hold') held.push(() => res.end('held'));
    else res.end('ok');
  });
  lc = make(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  cleanups.push(() => {
    lc.dispose();
    for (const h of held) h();
    server.closeAllConnections();
    server.close();
  });
  return { lc, server, url, held };
}

const get = async (url: string, dispatcher?: Agent) => {
  const r = await request(url, dispatcher ? { dispatcher } : {});
  return { status: r.statusCode, connection: r.headers.connection, body: await r.body.text() };
};

describe('lifecycle probes (Kubernetes semantics)', () => {
  it('startup, liveness and readiness each say what they mean, and readiness names the check that failed', async () => {
    let dbUp = false;
    const { lc, url } = await serve((server) => lifecycle({ server, signals: false, checks: { db: () => (dbUp ? true : 'db: connection refused'), checkpoint: () => undefined } }));
    expect(await get(url + '/health/startup')).toMatchObject({ status: 503 });
    expect(await get(url + '/health/live')).toMatchObject({ status: 200 });
    const starting = await get(url + '/health/ready');
    expect(starting.status).toBe(503);
    expect(JSON.parse(starting.body)).toMatchObject({ status: 'not ready', state: 'starting' });
    lc.started();
    expect((await get(url + '/health/startup')).status).toBe(200);
    const notReady = JSON.parse((await get(url + '/health/ready')).body);
    expect(notReady).toMatchObject({ ready: false, checks: { db: { ok: false, error: 'db: connection refused' }, checkpoint: { ok: true } } });
    dbUp = true;
    expect(await get(url + '/health/ready')).toMatchObject({ status: 200 });
    expect((await get(url + '/other')).body).toBe('ok');
  });

  it('a check that hangs fails after checkTimeoutMs, on the clock', async () => {
    const clock = new ManualClock();
    const { lc } = await serve((server) => lifecycle({ server, signals: false, clock, checkTimeoutMs: 500, checks: { slow: () => new Promise<boolean>(() => {}) } }));
    lc.started();
    const verdict = lc.readiness();
    await clock.advanceAsync(500);
    expect(await verdict).toMatchObject({ ready: false, checks: { slow: { ok: false, error: 'no answer within checkTimeoutMs (500 ms)' } } });
  });

  it('rejects bad options by name', () => {
    expect(() => lifecycle({ signals: false, shutdownDelayMs: 5000, drainTimeoutMs: 1000 })).toThrow(/shutdownDelayMs \(5000\) must be less than drainTimeoutMs \(1000\)/);
    expect(() => lifecycle({ signals: false, registry: new EmbeddedRegistry() })).toThrow(/registry needs instanceId/);
    expect(() => lifecycle({ signals: false, paths: { ready: 'ready' } })).toThrow(/paths.ready must start with '\/'/);
    expect(() => lifecycle({ signals: ['TERM' as NodeJS.Signals] })).toThrow(/signals must be a list like \['SIGTERM', 'SIGINT'\]/);
    expect(() => lifecycle({ signals: false, drainTimeoutMs: 0 })).toThrow(/drainTimeoutMs/);
  });
});

describe('graceful shutdown (in process, on a ManualClock)', () => {
  it('leaves the registry, serves through the delay, stops accepting, lets the request in flight finish with Connection: close, then runs hooks in reverse', async () => {
    const clock = new ManualClock();
    const registry = new EmbeddedRegistry();
    cleanups.push(() => registry.close());
    await registry.register({ id: 'web-1', service: 'web', address: '127.0.0.1', port: 1 });
    const order: string[] = [];
    const { lc, url, held } = await serve((server) =>
      lifecycle({ server, signals: false, clock, registry, instanceId: 'web-1', shutdownDelayMs: 1000, drainTimeoutMs: 10_000 })
        .onShutdown('journal close', () => order.push('journal close'))
        .onShutdown('final checkpoint', () => order.push('final checkpoint'))
        .started(),
    );
    const agent = new Agent({ keepAliveTimeout: 60_000 });
    cleanups.unshift(() => agent.destroy()); // after the server's cleanup has released what it holds
    expect((await get(url + '/warm', agent)).connection).toBe('keep-alive'); // an idle keep-alive socket now
    const inFlight = get(url + '/hold', agent);
    await expect.poll(() => held.length).toBe(1);
    const done = lc.shutdown('deploy');
    await expect.poll(async () => (await registry.instances('web')).length).toBe(0);
    expect(lc.state).toBe('draining');
    // During the delay: still served (with Connection: close), not ready.
    const during = await get(url + '/during');
    expect(during).toMatchObject({ status: 200, connection: 'close' });
    expect((await get(url + '/health/ready')).status).toBe(503);
    await clock.advanceAsync(1000);
    // Not accepting any more.
    await expect.poll(() => new Promise((r) => net.connect(Number(new URL(url).port), '127.0.0.1').once('error', () => r('refused')).once('connect', () => r('accepted')))).toBe('refused');
    expect(order).toEqual([]);
    held.shift()!();
    expect(await inFlight).toMatchObject({ status: 200, body: 'held', connection: 'close' });
    const result = await done;
    expect(result).toMatchObject({ drained: true, cutOff: 0, exitCode: 0, reason: 'deploy' });
    expect(result.hooks.map((h) => h.name)).toEqual(['registry: deregister', 'final checkpoint', 'journal close']);
    expect(order).toEqual(['final checkpoint', 'journal close']);
    expect(lc.state).toBe('stopped');
    expect(await lc.shutdown()).toBe(result); // once
  });

  it('cuts off what is still running at drainTimeoutMs and exits 1; the hooks still run, a failing one is reported and the others run', async () => {
    const clock = new ManualClock();
    const { lc, url, held } = await serve((server) =>
      lifecycle({ server, signals: false, clock, shutdownDelayMs: 0, drainTimeoutMs: 2000 })
        .onShutdown('second', () => undefined)
        .onShutdown('first', () => {
          throw new Error('disk full');
        })
        .started(),
    );
    const stuck = request(url + '/hold').then((r) => r.body.text()).catch((e: Error) => `failed: ${(e as { code?: string }).code ?? e.message}`);
    await expect.poll(() => held.length).toBe(1);
    const done = lc.shutdown();
    await clock.advanceAsync(2000);
    const result = await done;
    expect(result).toMatchObject({ drained: false, cutOff: 1, exitCode: 1 });
    expect(result.hooks).toEqual([{ name: 'first', ok: false, error: 'disk full' }, { name: 'second', ok: true }]);
    expect(await stuck).toMatch(/^failed: /);
  });
});

it('a hook that hangs fails after hookTimeoutMs, and the next one still runs', async () => {
  const clock = new ManualClock();
  const lc = lifecycle({ signals: false, clock, shutdownDelayMs: 0, hookTimeoutMs: 300 })
    .onShutdown('after', () => undefined)
    .onShutdown('hangs', () => new Promise(() => {}))
    .started();
  const done = lc.shutdown();
  await clock.advanceAsync(300);
  expect((await done).hooks).toEqual([{ name: 'hangs', ok: false, error: 'did not finish within hookTimeoutMs (300 ms)' }, { name: 'after', ok: true }]);
  expect((await done).exitCode).toBe(1);
});

describe('graceful shutdown of a real process on SIGTERM', () => {
  let fixture: Awaited<ReturnType<typeof bundleFixture>>;
  beforeAll(async () => {
    fixture = await bundleFixture(path.join(import.meta.dirname, 'fixtures/graceful-server.ts'));
  }, 60_000);
  afterAll(() => fixture?.cleanup());

  const start = async (drainTimeoutMs: number) => {
    const child = spawn(process.execPath, [fixture.file, String(drainTimeoutMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = new Lines();
    child.stdout!.on('data', (c: Buffer) => lines.feed(c));
    const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    cleanups.push(() => child.kill('SIGKILL'));
    const port = Number((await lines.waitFor(/^listening (\d+)$/))[1]);
    return { child, lines, exit, url: `http://127.0.0.1:${port}` };
  };

  it('a long request in flight when SIGTERM arrives completes; the hooks run; exit code 0', async () => {
    const p = await start(10_000);
    const long = request(p.url + '/slow?ms=600').then(async (r) => ({ status: r.statusCode, body: await r.body.text() }));
    await p.lines.waitFor(/^request \/slow\?ms=600$/);
    p.child.kill('SIGTERM');
    expect(await long).toEqual({ status: 200, body: 'slept 600' });
    expect(await p.exit).toBe(0);
    expect(p.lines.all).toEqual(expect.arrayContaining(['hook: close store']));
  });

  it('a second SIGTERM forces exit with code 1', async () => {
    const p = await start(60_000);
    const never = request(p.url + '/slow?ms=600000').catch(() => 'cut');
    await p.lines.waitFor(/^request \/slow\?ms=600000$/);
    p.child.kill('SIGTERM');
    await p.lines.waitFor(/^state draining$/);
    p.child.kill('SIGTERM');
    expect(await p.exit).toBe(1);
    expect(await never).toBe('cut');
  });
});
