import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadGenerator, nextFaultDelayMs, ProcessChaos } from '../../src/chaos/index.js';
import { seededRandom } from '../../src/core/index.js';
import { AvailabilityTracker } from '../../src/metrics/index.js';
import { bundleFixture } from '../support/bundle.js';
import { freePort } from '../support/servers.js';

let fixture: { file: string; cleanup: () => void };
beforeAll(async () => {
  fixture = await bundleFixture(path.join(import.meta.dirname, '../balance/fixtures/backend.ts'));
});
afterAll(() => fixture.cleanup());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('fault schedules', () => {
  it('repeat for a seed, and Poisson delays average the MTBF', () => {
    const a = seededRandom(5);
    const b = seededRandom(5);
    const xs = Array.from({ length: 5000 }, () => nextFaultDelayMs({ kind: 'poisson', mtbfMs: 1000 }, a));
    expect(xs).toEqual(Array.from({ length: 5000 }, () => nextFaultDelayMs({ kind: 'poisson', mtbfMs: 1000 }, b)));
    const m = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(m).toBeGreaterThan(930);
    expect(m).toBeLessThan(1070);
    expect(nextFaultDelayMs({ kind: 'fixed', intervalMs: 250 }, a)).toBe(250);
  });
});

describe('ProcessChaos with real processes', () => {
  it('SIGKILLs a process and restarts it; SIGSTOPs one and resumes it', async () => {
    const port = await freePort();
    const chaos = new ProcessChaos({ processes: [{ name: 'svc', command: [process.execPath, fixture.file, 'svc', String(port)] }], restartDelayMs: 100, pauseMs: 300, seed: 3 });
    const events: string[] = [];
    chaos.on('start', (e) => events.push(`start ${e.restarts}`));
    chaos.on('resumed', () => events.push('resumed'));
    chaos.on('exit', (e) => events.push(`exit ${e.signal}`));
    const ready = (): Promise<void> => new Promise((r) => chaos.on('output', (o) => o.line.startsWith('ready') && r()));
    chaos.start({ inject: false });
    await ready();
    const firstPid = chaos.pidOf('svc');
    const kill = chaos.inject('kill')!;
    expect(kill).toMatchObject({ id: 1, target: 'svc', kind: 'kill', pid: firstPid });
    await ready();
    expect(chaos.pidOf('svc')).not.toBe(firstPid);
    const pause = chaos.inject('pause')!;
    const stalled = fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(150) }).then(() => 'answered', () => 'no answer');
    expect(await stalled).toBe('no answer');
    await sleep(400);
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    expect(pause.kind).toBe('pause');
    expect(events).toEqual(['start 0', 'exit SIGKILL', 'start 1', 'resumed']);
    await chaos.stop();
  });

  it('one fault at a time on ManualClock: a due fault waits for the gate, at most maxWaitMs, and none comes after `until`', async () => {
    const { ManualClock } = await import('../../src/core/index.js');
    const clock = new ManualClock();
    let ready = false;
    const chaos = new ProcessChaos({
      processes: [{ name: 'a', command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'] }],
      schedule: { kind: 'fixed', intervalMs: 1000 },
      faults: ['pause'],
      pauseMs: 100,
      gate: { ready: () => ready, maxWaitMs: 5000, pollMs: 50 },
      reaper: false,
      clock,
    });
    const faults: number[] = [];
    chaos.on('fault', (f) => faults.push(f.at));
    chaos.start({ inject: false });
    await expect.poll(() => chaos.pidOf('a')).toBeGreaterThan(0);
    chaos.injectFaults({ until: 20_000 });
    clock.advance(1000); // due, but the gate is closed
    clock.advance(2000);
    expect(faults).toEqual([]);
    ready = true;
    clock.advance(50); // the next poll sees it open
    expect(faults).toEqual([3050]);
    clock.advance(100); // resumed
    ready = false;
    clock.advance(900); // due at 4050 (1000 after the last); waits at most 5000
    clock.advance(4999);
    expect(faults).toEqual([3050]);
    clock.advance(1);
    expect(faults).toEqual([3050, 9050]);
    ready = true;
    clock.advance(30_000); // past `until`: nothing more
    expect(faults.every((t) => t <= 20_000)).toBe(true);
    chaos.stopInjecting();
    await chaos.stop();
    expect(() => new ProcessChaos({ processes: [{ name: 'x', command: ['node'] }], gate: { ready: 'yes' as never } })).toThrow(/gate: ready must be a function/);
    expect(() => new ProcessChaos({ processes: [{ name: 'x', command: ['node'] }], schedule: { kind: 'jittered', intervalMs: 100, jitter: 1 } })).toThrow(/jitter from 0 to < 1/);
  });

  it('more than one fault at a time on ManualClock, one per group: eligible(name) picks the target and holds the fault when none is', async () => {
    const { ManualClock } = await import('../../src/core/index.js');
    const clock = new ManualClock();
    const idle = [process.execPath, '-e', 'setInterval(() => {}, 1000)'];
    const group = (name: string): string => name[0]!;
    const open = new Set<string>();
    const chaos = new ProcessChaos({
      processes: ['a1', 'a2', 'b1', 'b2'].map((name) => ({ name, command: idle })),
      schedule: { kind: 'fixed', intervalMs: 1000 },
      faults: ['pause'],
      pauseMs: 10_000,
      // A group takes one fault at a time; two groups may be faulted together.
      gate: { eligible: (name) => open.size < 2 && ![...open].some((o) => group(o) === group(name)), maxWaitMs: 60_000, pollMs: 50 },
      reaper: false,
      seed: 3,
      clock,
    });
    const seen: { at: number; target: string; open: string[] }[] = [];
    chaos.on('fault', (f) => {
      open.add(f.target);
      seen.push({ at: f.at, target: f.target, open: [...open].sort() });
    });
    chaos.on('resumed', (r) => open.delete(r.name));
    chaos.start({ inject: false });
    for (const n of ['a1', 'a2', 'b1', 'b2']) await expect.poll(() => chaos.pidOf(n)).toBeGreaterThan(0);
    chaos.injectFaults();
    clock.advance(1000);
    clock.advance(1000);
    // Two faults open, one in each group.
    expect(seen.map((f) => f.at)).toEqual([1000, 2000]);
    expect(new Set(seen.map((f) => group(f.target)))).toEqual(new Set(['a', 'b']));
    clock.advance(5000); // due at 3000, but no process is eligible: held
    expect(seen).toHaveLength(2);
    clock.advance(3999);
    expect(seen).toHaveLength(2);
    clock.advance(1); // 11 000: the first fault heals, and the poll due then sends the next to its group
    expect(seen).toHaveLength(3);
    expect(seen[2]!.at).toBe(11_000);
    expect(group(seen[2]!.target)).toBe(group(seen[0]!.target));
    for (const f of seen) expect(new Set(f.open.map(group)).size).toBe(f.open.length);
    chaos.stopInjecting();
    await chaos.stop();
    expect(() => new ProcessChaos({ processes: [{ name: 'x', command: ['node'] }], gate: {} })).toThrow(/gate: give ready\(\), eligible\(name\) or both/);
  });

  it('carries typed messages from a process over its IPC channel, also after a restart', async () => {
    const { isNodeMessage } = await import('../../src/demo/protocol.js');
    // A child that says what a demo node says, through the same module.
    const script = `process.send({ type: 'elected', id: 'web-1', fencingToken: 7 }); process.send({ type: 'nonsense' }); setInterval(() => {}, 1000);`;
    const chaos = new ProcessChaos({ processes: [{ name: 'web-1', command: [process.execPath, '-e', script], ipc: true }], restartDelayMs: 50, seed: 1 });
    const messages: unknown[] = [];
    chaos.on('message', (m) => messages.push(m.message));
    chaos.start({ inject: false });
    await expect.poll(() => messages.length, { timeout: 10_000 }).toBe(2);
    chaos.inject('kill');
    await expect.poll(() => messages.length, { timeout: 10_000 }).toBe(4);
    expect(messages.filter(isNodeMessage)).toEqual([
      { type: 'elected', id: 'web-1', fencingToken: 7 },
      { type: 'elected', id: 'web-1', fencingToken: 7 },
    ]);
    await chaos.stop();
    expect(() => new ProcessChaos({ processes: [{ name: 'x', command: ['node'], ipc: 'yes' as never }] })).toThrow(/processes\[0\]\.ipc must be true or false/);
  });

  it('rejects bad options, naming the option', () => {
    expect(() => new ProcessChaos({ processes: [] })).toThrow(/processes must be a non-empty array/);
    expect(() => new ProcessChaos({ processes: [{ name: 'x', command: ['node'] }], schedule: { kind: 'fixed', intervalMs: 0 } })).toThrow(/schedule must be/);
    expect(() => new ProcessChaos({ processes: [{ name: 'x', command: ['node'] }], faults: ['explode' as never] })).toThrow(/faults must be a non-empty array of 'kill', 'pause' and 'restart'/);
  });
});

describe('LoadGenerator (open loop)', () => {
  it('keeps its schedule against a server that stalls, so the stall shows as latency', async () => {
    let stall = false;
    const server = http.createServer((_q, res) => (stall ? setTimeout(() => res.end('late'), 300) : res.end('ok')));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const gen = new LoadGenerator({ url, ratePerSec: 100, durationMs: 1000 });
    const latencies: number[] = [];
    gen.on('result', (r) => latencies.push(r.latencyMs));
    setTimeout(() => (stall = true), 500);
    const s = await gen.run();
    server.close();
    expect(s.sent).toBe(100); // on schedule: the stall did not slow the sender
    expect(s.ok).toBe(100);
    expect(Math.max(...latencies)).toBeGreaterThanOrEqual(290);
  });

  it('shows when it falls behind its schedule: requests due while it was blocked are sent late, and the lag says how late', async () => {
    const server = http.createServer((_q, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const gen = new LoadGenerator({ url, ratePerSec: 100, durationMs: 1000 });
    const lags: number[] = [];
    gen.on('result', (r) => lags.push(r.sendLagMs));
    setTimeout(() => {
      const until = performance.now() + 300;
      while (performance.now() < until); // the generator's own process stalls for 300 ms
    }, 300);
    const s = await gen.run();
    server.close();
    expect(s.sent).toBe(100);
    // The first request due in the stall waited for all of it (a slower machine only adds lag).
    expect(s.sendLagMs.max).toBeGreaterThanOrEqual(250);
    expect(Math.max(...lags)).toBe(s.sendLagMs.max);
    expect(s.sendLagMs.p50).toBeLessThanOrEqual(s.sendLagMs.p99);
  });

  it('counts only 2xx as success by default: a 429 or a 404 is not available', async () => {
    let n = 0;
    const server = http.createServer((_q, res) => {
      res.statusCode = [200, 429, 404, 204][n++ % 4]!;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const s = await new LoadGenerator({ url, ratePerSec: 200, durationMs: 200 }).run();
    const expected = await new LoadGenerator({ url, ratePerSec: 200, durationMs: 200, isSuccess: (st) => st < 500 }).run();
    server.close();
    expect([s.sent, s.ok, s.failed]).toEqual([40, 20, 20]);
    expect([expected.ok, expected.failed]).toEqual([40, 0]);
  });

  it('warms up first with its own mix, unmeasured, and starts measuring only once every warm-up answer is in', async () => {
    // The warm-up's answers are held back for a while: a generator that started its measured
    // schedule without waiting for them would send a measured request while some are open.
    let openWarm = 0;
    let measuredWhileWarmOpen = 0;
    const paths: string[] = [];
    const server = http.createServer((req, res) => {
      paths.push(req.url!);
      if (req.url!.startsWith('/warm')) {
        openWarm++;
        setTimeout(() => {
          openWarm--;
          res.end('warm');
        }, 30);
      } else {
        if (openWarm > 0) measuredWhileWarmOpen++;
        res.end('ok');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const gen = new LoadGenerator({ url, ratePerSec: 100, durationMs: 300, next: (seq) => ({ path: `/m${seq}` }), warmUp: { durationMs: 200, next: (seq) => ({ path: `/warm${seq}` }) } });
    const results: string[] = [];
    const started: number[] = [];
    gen.on('result', (r) => results.push(r.request!.path));
    gen.on('started', ({ at }) => started.push(at));
    const before = Date.now();
    const s = await gen.run();
    server.close();
    expect(paths.filter((p) => p.startsWith('/warm'))).toHaveLength(20);
    expect(results).toEqual(Array.from({ length: 30 }, (_, i) => `/m${i}`)); // only the measured ones, numbered from 0
    expect([s.sent, s.ok, s.failed]).toEqual([30, 30, 0]);
    expect(measuredWhileWarmOpen).toBe(0);
    expect(paths.findIndex((p) => p.startsWith('/m'))).toBe(20);
    expect(started).toHaveLength(1);
    expect(started[0]).toBeGreaterThanOrEqual(before + 190); // after the warm-up's 200 ms of schedule
    expect(() => new LoadGenerator({ url, ratePerSec: 1, durationMs: 1, warmUp: { durationMs: -1 } })).toThrow(/durationMs/);
    expect(() => new LoadGenerator({ url, ratePerSec: 1, durationMs: 1, warmUp: { durationMs: 10, next: 5 as never } })).toThrow(/warmUp\.next must be a function/);
  });

  describe('with two addresses, as a client that knows both', () => {
    const listen = async (handler: http.RequestListener): Promise<{ server: http.Server; url: string }> => {
      const server = http.createServer(handler);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
    };
    const stop = (server: http.Server): void => {
      server.closeAllConnections();
      server.close();
    };

    it('sends a request refused by one address to the other, and leaves the refusing one alone while it is down', async () => {
      const live = await listen((_q, res) => res.end('ok'));
      const dead = `http://127.0.0.1:${await freePort()}/`;
      const s = await new LoadGenerator({ url: [dead, live.url], ratePerSec: 100, durationMs: 300, failover: { downMs: 600_000 } }).run();
      stop(live.server);
      expect([s.sent, s.ok, s.failed]).toEqual([30, 30, 0]);
      expect(s.failover!.answeredBy).toEqual({ [dead]: 0, [live.url]: 30 });
      // At least the first request was refused; the address is down after that, so at most the few sent before the refusal came back.
      expect(s.failover!.retries).toBeGreaterThanOrEqual(1);
      expect(s.failover!.retries).toBeLessThan(30);
    });

    it('sends a request one address answered 503 (a gateway cut off from its upstreams) to the other, and rests that address', async () => {
      let cutOffCalls = 0;
      const cutOff = await listen((_q, res) => {
        cutOffCalls++;
        res.statusCode = 503;
        res.end('steadfast gateway: no upstream could answer');
      });
      const live = await listen((_q, res) => res.end('ok'));
      const s = await new LoadGenerator({ url: [cutOff.url, live.url], ratePerSec: 100, durationMs: 300, failover: { downMs: 600_000 } }).run();
      stop(cutOff.server);
      stop(live.server);
      expect([s.sent, s.ok, s.failed]).toEqual([30, 30, 0]);
      expect(s.failover!.answeredBy[live.url]).toBe(30);
      // Rested after its 503: it saw the first request (and any sent before that answer came back), not half of them.
      expect(cutOffCalls).toBeGreaterThanOrEqual(1);
      expect(cutOffCalls).toBeLessThan(15);
      expect(s.failover!.retries).toBe(cutOffCalls);
    });

    it('does not resend every 503 when both addresses shed (past capacity): resends stay within the budget', async () => {
      const busy = await listen((_q, res) => {
        res.statusCode = 503;
        res.end('shed');
      });
      // Both shed (past capacity): resends are bounded by the budget (10 % of requests + 10 a second), not one per request.
      const other = await listen((_q, res) => {
        res.statusCode = 503;
        res.end('shed');
      });
      const s = await new LoadGenerator({ url: [busy.url, other.url], ratePerSec: 400, durationMs: 500, failover: { downMs: 0 } }).run();
      stop(busy.server);
      stop(other.server);
      expect(s.ok).toBe(0);
      expect(s.failed).toBe(s.sent);
      expect(s.failover!.retries).toBeLessThanOrEqual(0.1 * s.sent + 10 * 0.5 + 10 + 1);
    });

    it('gives up on an address that holds a request past perTryTimeoutMs and sends it to the other', async () => {
      const held: http.ServerResponse[] = [];
      const hung = await listen((_q, res) => void held.push(res)); // a SIGSTOPped gateway: connects, never answers
      const live = await listen((_q, res) => res.end('ok'));
      const gen = new LoadGenerator({ url: [hung.url, live.url], ratePerSec: 50, durationMs: 400, timeoutMs: 30_000, failover: { perTryTimeoutMs: 200, downMs: 600_000 } });
      const results: { latencyMs: number; failovers?: number }[] = [];
      gen.on('result', (r) => results.push(r));
      const s = await gen.run();
      stop(hung.server);
      stop(live.server);
      expect([s.sent, s.ok, s.failed]).toEqual([20, 20, 0]);
      expect(s.failover!.answeredBy[hung.url]).toBe(0);
      expect(held.length).toBeGreaterThanOrEqual(1);
      const failedOver = results.filter((r) => r.failovers === 1);
      expect(failedOver).toHaveLength(s.failover!.retries);
      for (const r of failedOver) expect(r.latencyMs).toBeGreaterThanOrEqual(190); // it waited out its try first
    });

    it('does not send a POST again after a try that may have reached the server, but does after a refused connection', async () => {
      const held: http.ServerResponse[] = [];
      const hung = await listen((_q, res) => void held.push(res));
      let posts = 0;
      const live = await listen((_q, res) => {
        posts++;
        res.end('ok');
      });
      const one = { ratePerSec: 10, durationMs: 100, method: 'POST', timeoutMs: 30_000, failover: { perTryTimeoutMs: 200 } };
      const s = await new LoadGenerator({ ...one, url: [hung.url, live.url] }).run();
      expect([s.sent, s.ok, s.failed, s.failover!.retries, posts]).toEqual([1, 0, 1, 0, 0]);
      const dead = `http://127.0.0.1:${await freePort()}/`;
      const t = await new LoadGenerator({ ...one, url: [dead, live.url] }).run();
      stop(hung.server);
      stop(live.server);
      expect([t.sent, t.ok, t.failover!.retries, posts]).toEqual([1, 1, 1, 1]);
    });

    it('tries again the address that failed longest ago once every address has failed, up to maxTries', async () => {
      // A gateway that was paused holds the first request past its try; the other gateway has
      // just been killed and refuses. By the third try the first one answers again.
      const held: http.ServerResponse[] = [];
      const resumed = await listen((_q, res) => (held.length === 0 ? void held.push(res) : res.end('ok')));
      const dead = `http://127.0.0.1:${await freePort()}/`;
      const one = { ratePerSec: 10, durationMs: 100, timeoutMs: 30_000 };
      const gen = new LoadGenerator({ ...one, url: [resumed.url, dead], failover: { perTryTimeoutMs: 200 } });
      const seen: (number | undefined)[] = [];
      gen.on('result', (r) => seen.push(r.failovers));
      const s = await gen.run();
      expect([s.sent, s.ok, s.failover!.retries, s.failover!.answeredBy[resumed.url]]).toEqual([1, 1, 2, 1]);
      expect(seen).toEqual([2]);
      // With maxTries 2 the same request fails on the refusal.
      held.length = 0;
      const t = await new LoadGenerator({ ...one, url: [resumed.url, dead], failover: { perTryTimeoutMs: 200, maxTries: 2 } }).run();
      stop(resumed.server);
      expect([t.sent, t.ok, t.failed, t.failover!.retries]).toEqual([1, 0, 1, 1]);
    });

    it('once every address has failed, tries one that timed out before one that refused, even if it failed later', async () => {
      // The killed gateway is tried first and refuses; the paused one holds the try past its
      // timeout; the third try goes back to the paused one (resumed by now), not to the refusal.
      const held: http.ServerResponse[] = [];
      const resumed = await listen((_q, res) => (held.length === 0 ? void held.push(res) : res.end('ok')));
      const dead = `http://127.0.0.1:${await freePort()}/`;
      const gen = new LoadGenerator({ ratePerSec: 10, durationMs: 100, timeoutMs: 30_000, url: [dead, resumed.url], failover: { perTryTimeoutMs: 200 } });
      const s = await gen.run();
      stop(resumed.server);
      expect([s.sent, s.ok, s.failover!.retries, s.failover!.answeredBy[resumed.url]]).toEqual([1, 1, 2, 1]);
    });

    it('with a probe, lets a try sent after the probe wait: a slow address is not a stopped one', async () => {
      // Just resumed and catching up: every answer takes 150 ms, longer than the probe's 100 ms.
      // The other address refuses. The try sent to the slow one after its probe went out is answered.
      const slow = await listen((_q, res) => void setTimeout(() => res.end('ok'), 150));
      const dead = `http://127.0.0.1:${await freePort()}/`;
      const s = await new LoadGenerator({ ratePerSec: 10, durationMs: 100, timeoutMs: 30_000, url: [dead, slow.url], failover: { perTryTimeoutMs: 5000, maxTries: 2, probe: { path: '/health', intervalMs: 1000, timeoutMs: 100 } } }).run();
      stop(slow.server);
      expect([s.sent, s.ok, s.failed, s.failover!.retries]).toEqual([1, 1, 0, 1]);
    });

    it('probes an address again once it has been down for downMs, and sends it its share when it answers', async () => {
      let failing = 3;
      const flaky = await listen((req, res) => {
        if (failing-- > 0) req.socket.destroy(); // a gateway killed mid-request
        else res.end('ok');
      });
      const live = await listen((_q, res) => res.end('ok'));
      const s = await new LoadGenerator({ url: [flaky.url, live.url], ratePerSec: 100, durationMs: 1000, timeoutMs: 30_000, failover: { downMs: 50 } }).run();
      stop(flaky.server);
      stop(live.server);
      expect([s.sent, s.ok, s.failed]).toEqual([100, 100, 0]);
      expect(s.failover!.retries).toBeGreaterThanOrEqual(1);
      expect(s.failover!.answeredBy[flaky.url]).toBeGreaterThan(0);
    });

    it('with a probe, finds an address that stopped answering and moves the tries waiting on it at once, then takes it back when it answers', async () => {
      // A SIGSTOPped gateway for the first 1500 ms: it accepts and holds everything, probes
      // included, and answers what it holds when it resumes.
      const stopMs = 1500;
      let stoppedUntil = performance.now() + stopMs;
      const held: http.ServerResponse[] = [];
      const paused = await listen((_q, res) => (performance.now() < stoppedUntil ? void held.push(res) : res.end('ok')));
      const resume = setTimeout(() => {
        for (const res of held) res.end('late');
      }, stopMs);
      const live = await listen((_q, res) => res.end('ok'));
      const perTryTimeoutMs = 10_000; // without the probe, a held request would wait this long
      const gen = new LoadGenerator({ url: [paused.url, live.url], ratePerSec: 100, durationMs: 2500, timeoutMs: 30_000, failover: { perTryTimeoutMs, downMs: 100, probe: { path: '/health', intervalMs: 20, timeoutMs: 100 } } });
      const latencies: number[] = [];
      gen.on('result', (r) => latencies.push(r.latencyMs));
      const s = await gen.run();
      clearTimeout(resume);
      stoppedUntil = 0;
      stop(paused.server);
      stop(live.server);
      expect([s.sent, s.ok, s.failed]).toEqual([250, 250, 0]);
      expect(held.length).toBeGreaterThan(0);
      expect(s.failover!.retries).toBeGreaterThan(0);
      // Moved by a probe (after at most two probes' intervals and a timeout), not by the resume
      // or by the try's timeout; bounded loosely, a slow machine only delays timers.
      expect(Math.max(...latencies)).toBeLessThan(stopMs * 0.8);
      expect(s.failover!.answeredBy[paused.url]).toBeGreaterThan(0); // back once it answered
      expect(() => new LoadGenerator({ url: [paused.url, live.url], ratePerSec: 1, durationMs: 1, failover: { probe: { path: 'health' } } })).toThrow(/path must start with '\/'/);
    }, 60_000);

    it('with hedgeAfterMs, sends a request one address holds to the other as well; the first answer wins, the held try is aborted and its address stays up', async () => {
      const held: http.ServerResponse[] = [];
      let closed = 0;
      const hung = await listen((_q, res) => {
        held.push(res);
        res.on('close', () => closed++);
      });
      const live = await listen((_q, res) => res.end('ok'));
      const gen = new LoadGenerator({ url: [hung.url, live.url], ratePerSec: 20, durationMs: 500, timeoutMs: 30_000, failover: { perTryTimeoutMs: 10_000, downMs: 600_000, hedgeAfterMs: 50 } });
      const latencies: number[] = [];
      gen.on('result', (r) => latencies.push(r.latencyMs));
      const s = await gen.run();
      while (closed < held.length) await new Promise((r) => setTimeout(r, 5));
      stop(hung.server);
      expect([s.sent, s.ok, s.failed]).toEqual([10, 10, 0]);
      expect(s.failover!.answeredBy[hung.url]).toBe(0);
      // Not marked down by a hedge it lost: the held address keeps getting its turn.
      expect(held.length).toBeGreaterThanOrEqual(2);
      expect(s.failover!.hedges).toBe(held.length);
      expect(s.failover!.retries).toBe(0); // no try failed: each was hedged, not timed out
      // Each hedged request waited out hedgeAfterMs first (a slow machine only delays timers).
      expect(latencies.filter((ms) => ms >= 45).length).toBeGreaterThanOrEqual(held.length);
      // A POST is never hedged: it waits for its try, which times out, and fails.
      const hungAgain = await listen((_q, res) => void held.push(res));
      const t = await new LoadGenerator({ url: [hungAgain.url, live.url], method: 'POST', ratePerSec: 10, durationMs: 100, timeoutMs: 30_000, failover: { perTryTimeoutMs: 200, hedgeAfterMs: 50 } }).run();
      stop(hungAgain.server);
      stop(live.server);
      expect([t.sent, t.ok, t.failed, t.failover!.hedges]).toEqual([1, 0, 1, 0]);
    });

    it('with hedgeAfterMs and a probe, sends no new requests to an address whose probe has gone unanswered that long, while the other answers its own', async () => {
      // A SIGSTOPped gateway: it holds every request, its probes too. The probe's timeout is
      // long, so only the unanswered probe's age can move the load.
      let requests = 0;
      const paused = await listen((req) => {
        if (req.url !== '/health') requests++;
      });
      const live = await listen((_q, res) => res.end('ok'));
      const s = await new LoadGenerator({ url: [paused.url, live.url], ratePerSec: 100, durationMs: 2000, timeoutMs: 30_000, failover: { perTryTimeoutMs: 20_000, downMs: 600_000, hedgeAfterMs: 50, probe: { path: '/health', intervalMs: 20, timeoutMs: 20_000 } } }).run();
      stop(paused.server);
      stop(live.server);
      expect([s.sent, s.ok, s.failed]).toEqual([200, 200, 0]);
      expect(s.failover!.answeredBy[paused.url]).toBe(0);
      // Round robin would have sent it half (100); it gets those picked in its probe's first
      // 50 ms (a few), and a few more only if the live address's own probe is ever that slow.
      expect(requests).toBeGreaterThanOrEqual(1);
      expect(requests).toBeLessThan(50);
      expect(s.failover!.hedges).toBe(requests);
    });

    it('hedges no more than the budget allows: 10 at the start, 10 a second and hedgeRatio of the requests', async () => {
      const hung = await listen(() => {}); // holds every request
      const live = await listen((_q, res) => res.end('ok'));
      const started = performance.now();
      const s = await new LoadGenerator({ url: [hung.url, live.url], ratePerSec: 200, durationMs: 1000, timeoutMs: 30_000, failover: { perTryTimeoutMs: 300, downMs: 0, hedgeAfterMs: 20, hedgeRatio: 0 } }).run();
      const seconds = (performance.now() - started) / 1000;
      stop(hung.server);
      stop(live.server);
      expect([s.sent, s.ok]).toEqual([200, 200]);
      expect(s.failover!.hedges).toBeGreaterThanOrEqual(10);
      expect(s.failover!.hedges).toBeLessThanOrEqual(10 + Math.ceil(10 * seconds));
      // The rest of the held requests waited out their try and went to the other address.
      expect(s.failover!.retries).toBeGreaterThan(0);
    });

    it('does not hedge requests that are only as slow as their address answers now (overload), and still hedges one an address holds', async () => {
      // Both addresses answer every request after 60 ms: past hedgeAfterMs (10), but not slow
      // for them. Before the first answers come in, a few are hedged; after that, none should
      // be — with hedgeRatio 1 every request would be, were the delay fixed.
      const slow = () => listen((_q, res) => void setTimeout(() => res.end('ok'), 60));
      const a = await slow();
      const b = await slow();
      const s = await new LoadGenerator({ url: [a.url, b.url], ratePerSec: 100, durationMs: 2000, timeoutMs: 30_000, failover: { perTryTimeoutMs: 20_000, downMs: 600_000, hedgeAfterMs: 10, hedgeRatio: 1 } }).run();
      stop(a.server);
      stop(b.server);
      expect([s.sent, s.ok, s.failed]).toEqual([200, 200, 0]);
      expect(s.failover!.hedges).toBeLessThan(20);
      // One the address holds while it answers others at once is hedged after hedgeAfterMs.
      let n = 0;
      const holdsOne = await listen((_q, res) => {
        if (n++ !== 5) res.end('ok');
      });
      const live = await listen((_q, res) => res.end('ok'));
      const t = await new LoadGenerator({ url: [holdsOne.url, live.url], ratePerSec: 50, durationMs: 400, timeoutMs: 30_000, failover: { perTryTimeoutMs: 20_000, downMs: 600_000, hedgeAfterMs: 30 } }).run();
      stop(holdsOne.server);
      stop(live.server);
      expect([t.sent, t.ok, t.failed]).toEqual([20, 20, 0]);
      expect(t.failover!.hedges).toBeGreaterThanOrEqual(1);
    });

    it('rejects a bad list or failover option, naming it', () => {
      expect(() => new LoadGenerator({ url: [], ratePerSec: 1, durationMs: 1 })).toThrow(/list of 1 to 16 URLs/);
      expect(() => new LoadGenerator({ url: ['http://a', 'ftp://b'], ratePerSec: 1, durationMs: 1 })).toThrow(/url must be http/);
      expect(() => new LoadGenerator({ url: ['http://a', 'http://b'], ratePerSec: 1, durationMs: 1, failover: { perTryTimeoutMs: 0 } })).toThrow(/perTryTimeoutMs/);
      expect(() => new LoadGenerator({ url: ['http://a', 'http://b'], ratePerSec: 1, durationMs: 1, failover: { hedgeAfterMs: 0 } })).toThrow(/failover.*hedgeAfterMs/);
      expect(() => new LoadGenerator({ url: ['http://a', 'http://b'], ratePerSec: 1, durationMs: 1, failover: { hedgeRatio: 0.5 } })).toThrow(/hedgeRatio needs hedgeAfterMs/);
      expect(() => new LoadGenerator({ url: ['http://a', 'http://b'], ratePerSec: 1, durationMs: 1, failover: { hedgeAfterMs: 10, hedgeRatio: 2 } })).toThrow(/hedgeRatio/);
      expect(() => new LoadGenerator({ url: ['http://a', 'http://b'], ratePerSec: 1, durationMs: 1, failover: { maxTries: 0 } })).toThrow(/maxTries/);
      expect(() => new LoadGenerator({ url: ['http://a', 'http://b'], ratePerSec: 1, durationMs: 1, failover: { downMs: 5, other: 1 } as never })).toThrow(/other/);
    });
  });

  it('rejects bad options, naming the option', () => {
    expect(() => new LoadGenerator({ url: 'ftp://x', ratePerSec: 1, durationMs: 1 })).toThrow(/url must be http/);
    expect(() => new LoadGenerator({ url: 'http://x', ratePerSec: 0, durationMs: 1 })).toThrow(/ratePerSec must be a number > 0/);
  });
});

describe('an experiment end to end: a service under ProcessChaos, LoadGenerator, AvailabilityTracker', () => {
  // Faults are injected when the test has seen the service answer, not on a clock: how fast this
  // machine restarts a process decides how long the test takes, never whether it passes.
  it('reports one incident per fault injected, each recovered no sooner than the restart delay', async () => {
    const port = await freePort();
    const restartDelayMs = 300;
    const chaos = new ProcessChaos({
      processes: [{ name: 'svc', command: [process.execPath, fixture.file, 'svc', String(port)] }],
      faults: ['kill'],
      restartDelayMs,
      seed: 11,
    });
    const tracker = new AvailabilityTracker({ bucketMs: 250 });
    const incidents = new Map<number, number>();
    chaos.on('fault', (f) => incidents.set(f.id, tracker.recordFault(f.target, f.kind, f.at)));
    let readyCount = 0;
    chaos.on('output', (o) => {
      if (!o.line.startsWith('ready')) return;
      readyCount++;
      const last = [...incidents.values()].at(-1);
      if (last !== undefined) tracker.recordRestore(last);
    });
    chaos.start({ inject: false });
    await until(() => readyCount === 1);
    tracker.start();
    let ok = 0;
    let failed = 0;
    const load = new LoadGenerator({ url: `http://127.0.0.1:${port}/`, ratePerSec: 50, durationMs: 600_000, timeoutMs: 1000 });
    load.on('result', (r) => {
      if (r.ok) ok++;
      else failed++;
      tracker.recordRequest(r.ok, r.latencyMs, r.scheduledAt + r.latencyMs);
    });
    const running = load.run();
    for (let k = 0; k < 2; k++) {
      const before = ok;
      await until(() => ok >= before + 10); // it serves…
      const f = failed;
      chaos.inject('kill');
      await until(() => readyCount === k + 2 && failed > f); // …a kill fails requests until the restart…
      const after = ok;
      await until(() => ok >= after + 10); // …and it serves again
    }
    load.stop();
    await running;
    await chaos.stop();
    const report = tracker.report();
    expect(chaos.records).toHaveLength(2);
    expect(report.incidents).toHaveLength(2);
    const visible = report.incidents.filter((i) => i.failedRequests > 0);
    expect(visible.length).toBeGreaterThan(0);
    // A killed service is down at least until it is restarted.
    for (const i of visible) expect(i.timeToRecoverMs).toBeGreaterThanOrEqual(restartDelayMs);
    expect(report.mttrMs).toBeGreaterThanOrEqual(restartDelayMs);
    expect(report.requestAvailability).toBeLessThan(1);
    expect(report.requestAvailability).toBeGreaterThan(0);
  }, 120_000);
});

/** Waits (in real time, for real processes) until `cond` holds; the test's timeout bounds it. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await sleep(10);
}
