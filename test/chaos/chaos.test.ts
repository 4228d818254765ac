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

  it('rejects bad options, naming the option', () => {
    expect(() => new ProcessChaos({ processes: [] })).toThrow(/processes must be a non-empty array/);
    expect(() => new ProcessChaos({ processes: [{ name: 'x', command: ['node'] }], schedule: { kind: 'fixed', intervalMs: 0 } })).toThrow(/schedule must be/);
    expect(() => new ProcessChaos({ processes: [{ name: 'x', command: ['node'] }], faults: ['explode' as never] })).toThrow(/faults must be a non-empty array of 'kill' and 'pause'/);
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

  it('rejects bad options, naming the option', () => {
    expect(() => new LoadGenerator({ url: 'ftp://x', ratePerSec: 1, durationMs: 1 })).toThrow(/url must be http/);
    expect(() => new LoadGenerator({ url: 'http://x', ratePerSec: 0, durationMs: 1 })).toThrow(/ratePerSec must be a number > 0/);
  });
});

describe('an experiment end to end: a service under ProcessChaos, LoadGenerator, AvailabilityTracker', () => {
  it('reports one incident per fault injected, with an MTTR between the restart delay and a bound', async () => {
    const port = await freePort();
    const restartDelayMs = 300;
    const chaos = new ProcessChaos({
      processes: [{ name: 'svc', command: [process.execPath, fixture.file, 'svc', String(port)] }],
      schedule: { kind: 'fixed', intervalMs: 1200 },
      faults: ['kill'],
      restartDelayMs,
      seed: 11,
    });
    const tracker = new AvailabilityTracker({ bucketMs: 250 });
    const incidents = new Map<number, number>();
    chaos.on('fault', (f) => incidents.set(f.id, tracker.recordFault(f.target, f.kind, f.at)));
    chaos.on('output', (o) => {
      if (!o.line.startsWith('ready')) return;
      const last = [...incidents.values()].at(-1);
      if (last !== undefined) tracker.recordRestore(last);
    });
    const ready = new Promise<void>((r) => chaos.on('output', (o) => o.line.startsWith('ready') && r()));
    chaos.start();
    await ready;
    tracker.start();
    const load = new LoadGenerator({ url: `http://127.0.0.1:${port}/`, ratePerSec: 50, durationMs: 4000, timeoutMs: 1000 });
    load.on('result', (r) => tracker.recordRequest(r.ok, r.latencyMs, r.scheduledAt + r.latencyMs));
    await load.run();
    await chaos.stop();
    const report = tracker.report();
    const injected = chaos.records.filter((f) => f.at <= report.endedAt);
    expect(report.incidents).toHaveLength(injected.length);
    expect(injected.length).toBeGreaterThanOrEqual(2);
    const visible = report.incidents.filter((i) => i.failedRequests > 0);
    expect(visible.length).toBeGreaterThan(0);
    // A killed service is down at least until it is restarted, and not much longer.
    for (const i of visible) {
      expect(i.timeToRecoverMs).toBeGreaterThanOrEqual(restartDelayMs);
      expect(i.timeToRecoverMs).toBeLessThan(restartDelayMs + 2500);
    }
    expect(report.mttrMs).toBeGreaterThanOrEqual(restartDelayMs);
    expect(report.requestAvailability).toBeLessThan(1);
    expect(report.requestAvailability).toBeGreaterThan(0.5);
  }, 20_000);
});
