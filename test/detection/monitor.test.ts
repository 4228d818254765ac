import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/index.js';
import { detectorPresets, healthCheck, HeartbeatMonitor, type HealthStatus } from '../../src/detection/index.js';

describe('HeartbeatMonitor', () => {
  it('suspects a silent node exactly when its φ crosses, with one timer for all nodes', async () => {
    const clock = new ManualClock();
    const monitor = new HeartbeatMonitor({ ...detectorPresets.fast, clock });
    const events: string[] = [];
    monitor.on('suspect', (e) => events.push(`suspect ${e.node} after ${e.silentMs.toFixed(0)} ms`));
    monitor.on('alive', (e) => events.push(`alive ${e.node}`));
    for (let i = 0; i < 30; i++) {
      clock.advance(100);
      for (const n of ['a', 'b', 'c']) monitor.heartbeat(n);
      expect(clock.pending).toBe(1);
    }
    // b crashes; a and c keep going
    for (let i = 0; i < 10; i++) {
      clock.advance(100);
      monitor.heartbeat('a');
      monitor.heartbeat('c');
    }
    expect(events).toHaveLength(1);
    expect(events[0]).toMatch(/^suspect b after \d+ ms$/);
    const silent = Number(/after (\d+)/.exec(events[0]!)![1]);
    expect(silent).toBeGreaterThan(500);
    expect(silent).toBeLessThan(1000);
    expect(monitor.status('b')).toBe('suspect');
    monitor.heartbeat('b');
    expect(events.at(-1)).toBe('alive b');
    expect(monitor.nodes.map((n) => n.status)).toEqual(['alive', 'alive', 'alive']);
    monitor.stop();
  });

  it('forgets a node that was removed', () => {
    const clock = new ManualClock();
    const monitor = new HeartbeatMonitor({ clock });
    monitor.heartbeat('x');
    monitor.remove('x');
    expect(monitor.status('x')).toBeUndefined();
    expect(clock.pending).toBe(0);
  });
});

describe('healthCheck', () => {
  let server: http.Server;
  let base: string;
  let answer: { status: number; delayMs: number } = { status: 200, delayMs: 0 };
  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      setTimeout(() => {
        res.writeHead(answer.status, { 'content-type': 'text/plain' });
        res.end(`status ${answer.status}`);
      }, answer.delayMs);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it.each([
    [200, 'passing'],
    [204, 'passing'],
    [429, 'warning'],
    [500, 'critical'],
    [503, 'critical'],
    [404, 'critical'],
  ] as [number, HealthStatus][])('HTTP %d is %s (Consul’s rule)', async (status, expected) => {
    answer = { status, delayMs: 0 };
    const check = healthCheck({ http: base, timeoutMs: 2000 });
    expect(await check.runOnce()).toBe(expected);
    expect(check.output).toContain(`${status}`);
  });

  it('is critical when the answer is slower than timeoutMs', async () => {
    answer = { status: 200, delayMs: 300 };
    const check = healthCheck({ http: base, timeoutMs: 50 });
    expect(await check.runOnce()).toBe('critical');
    expect(check.output).toMatch(/timed out after 50 ms/);
    answer = { status: 200, delayMs: 0 };
  });

  it('is critical when nothing listens', async () => {
    const port = await new Promise<number>((r) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => r(p));
      });
    });
    expect(await healthCheck({ http: `http://127.0.0.1:${port}/`, timeoutMs: 2000 }).runOnce()).toBe('critical');
    expect(await healthCheck({ tcp: `127.0.0.1:${port}`, timeoutMs: 2000 }).runOnce()).toBe('critical');
  });

  it('TCP: connected is passing', async () => {
    const port = (server.address() as AddressInfo).port;
    const check = healthCheck({ tcp: `127.0.0.1:${port}` });
    expect(await check.runOnce()).toBe('passing');
    expect(check.output).toMatch(/TCP connect 127\.0\.0\.1:\d+: Success/);
  });

  it('does not flap on one failure: failuresBeforeWarning / failuresBeforeCritical / successBeforePassing', async () => {
    const results: (boolean | HealthStatus)[] = [true, false, false, false, true, true];
    let i = 0;
    const check = healthCheck({ fn: () => results[i++]!, initialStatus: 'passing', failuresBeforeWarning: 2, failuresBeforeCritical: 3, successBeforePassing: 2 });
    const seen: HealthStatus[] = [];
    for (let k = 0; k < results.length; k++) seen.push(await check.runOnce());
    expect(seen).toEqual(['passing', 'passing', 'warning', 'critical', 'critical', 'passing']);
  });

  it('TTL: after a stall of its own process, waits one more TTL for the updates it could not read', () => {
    // A clock whose timers fire only when told, with now() wherever the test puts it: a timer
    // that fires 2 s late is what a SIGSTOPped or blocked registry sees when it runs again.
    let now = 0;
    type T = { due: number; cb: () => void };
    let timers: T[] = [];
    const clock = {
      now: () => now,
      setTimeout: (cb: () => void, ms: number): T => {
        const t = { due: now + ms, cb };
        timers.push(t);
        return t;
      },
      clearTimeout: (t: T) => void (timers = timers.filter((x) => x !== t)),
    };
    const fireDue = (): void => {
      const due = timers.filter((t) => t.due <= now);
      timers = timers.filter((t) => t.due > now);
      for (const t of due) t.cb();
    };
    const check = healthCheck({ ttlMs: 500, clock: clock as never }).start();
    check.pass('ok');
    now = 2500; // stalled for 2 s: the renewals sent meanwhile are still unread
    fireDue();
    expect(check.status).toBe('passing');
    expect(check.output).toMatch(/TTL expiry deferred: .*2000 ms late/);
    check.pass('read after the stall'); // the heartbeat that was waiting in the socket
    now = 2999;
    fireDue();
    expect(check.status).toBe('passing');
    // On time, no update: critical as usual (and after a stall with no update either).
    now = 3100; // 100 ms late: a busy loop, not a stall
    fireDue();
    expect(check.status).toBe('critical');
    check.pass('back');
    now = 6000;
    fireDue(); // late again: deferred once …
    expect(check.status).toBe('passing');
    now = 6500;
    fireDue(); // … and judged when no update came within that TTL
    expect(check.status).toBe('critical');
    expect(check.output).toMatch(/after a stall of this process/);
    check.stop();
  });

  it('TTL: turns critical unless renewed in time', async () => {
    const clock = new ManualClock();
    const check = healthCheck({ ttlMs: 1000, clock }).start();
    const changes: string[] = [];
    check.on('change', (e) => changes.push(`${e.from}->${e.to}`));
    check.pass('ok');
    expect(check.status).toBe('passing');
    clock.advance(900);
    check.pass('still ok');
    clock.advance(900);
    expect(check.status).toBe('passing');
    clock.advance(100);
    expect(check.status).toBe('critical');
    expect(check.output).toMatch(/TTL expired/);
    check.warn('degraded');
    expect(check.status).toBe('warning');
    expect(changes).toEqual(['critical->passing', 'passing->critical', 'critical->warning']);
    check.stop();
  });

  it('runs on its interval once started, on the injected clock', async () => {
    const clock = new ManualClock();
    let runs = 0;
    const check = healthCheck({ fn: () => void runs++, intervalMs: 1000, clock }).start();
    await clock.advanceAsync(0);
    expect(runs).toBe(1);
    expect(check.status).toBe('passing');
    await clock.advanceAsync(3000);
    expect(runs).toBe(4);
    check.stop();
    await clock.advanceAsync(5000);
    expect(runs).toBe(4);
  });

  it('a function check that throws is critical, with the reason', async () => {
    const check = healthCheck({ fn: () => {
      throw new Error('db pool exhausted');
    } });
    expect(await check.runOnce()).toBe('critical');
    expect(check.output).toMatch(/db pool exhausted/);
  });

  it('rejects bad options, naming the option', () => {
    expect(() => healthCheck({} as never)).toThrow(/give exactly one of http, tcp, ttlMs or fn, got none/);
    expect(() => healthCheck({ http: 'ftp://x', tcp: 'a:1' })).toThrow(/got http and tcp/);
    expect(() => healthCheck({ http: 'ftp://x' })).toThrow(/http must be an http:\/\/ or https:\/\/ URL/);
    expect(() => healthCheck({ tcp: 'nohost' })).toThrow(/tcp must be host:port/);
    expect(() => healthCheck({ fn: () => true, failuresBeforeWarning: 3, failuresBeforeCritical: 1 })).toThrow(
      'healthCheck: failuresBeforeWarning must be an integer ≥ 0 and ≤ 1, got 3',
    );
  });
});
