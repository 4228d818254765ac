import http from 'node:http';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { createAdmission, type Admission } from '../../src/balance/admission.js';

/** A real server on port 0 whose handler is held until released; the door decides first. */
async function serve(door: Admission, priorityOf: (url: string) => 'critical' | 'normal' | 'low' = () => 'normal') {
  const held: (() => void)[] = [];
  let handled = 0;
  const server = http.createServer((req, res) => {
    const a = door.admit(req, res, priorityOf(req.url ?? '/'));
    if (!a) return void req.resume();
    handled++;
    const finish = () => {
      res.end(`ok ${a.deadlineMs ?? '-'}`);
      a.done();
    };
    if (req.url === '/hold') held.push(finish);
    else finish();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  closers.push(async () => {
    for (const h of held) h();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    door.close();
  });
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const r = await request(url + path, { headers });
    return { status: r.statusCode, retryAfter: r.headers['retry-after'], shed: r.headers['x-steadfast-shed'], text: await r.body.text() };
  };
  return { get, held, handled: () => handled };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

describe('Admission (a server’s door under overload)', () => {
  it('drops a request whose deadline passed before any work (504), and hands the time left to the handler', async () => {
    const s = await serve(createAdmission({ shedder: false }));
    expect(await s.get('/a', { 'x-steadfast-deadline-ms': '0' })).toMatchObject({ status: 504, shed: 'deadline', text: expect.stringMatching(/deadline \(x-steadfast-deadline-ms: 0\) had passed when it arrived; not started/) });
    expect(s.handled()).toBe(0);
    expect(await s.get('/a', { 'x-steadfast-deadline-ms': '750' })).toMatchObject({ status: 200, text: 'ok 750' });
    expect(await s.get('/a')).toMatchObject({ status: 200, text: 'ok -' });
  });

  it('answers 503 + Retry-After past the limit at once, never for critical requests, and counts both', async () => {
    const door = createAdmission({ limit: { algorithm: 'aimd', initialLimit: 1, maxLimit: 1 }, shedder: false });
    const s = await serve(door, (url) => (url === '/health' ? 'critical' : 'normal'));
    const first = s.get('/hold');
    await expect.poll(() => s.held.length).toBe(1);
    const refused = await s.get('/b');
    expect(refused).toMatchObject({ status: 503, shed: 'overload', text: expect.stringMatching(/adaptiveLimit: 1 calls in flight, at the limit of 1/) });
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await s.get('/health')).status).toBe(200);
    s.held.shift()!();
    expect((await first).status).toBe(200);
    expect((await s.get('/c')).status).toBe(200);
    expect(door.stats).toMatchObject({ shedByLimit: 1, shedByHealth: 0, expired: 0, admitted: 2, inflight: 0, limit: 1 });
  });

  it('sheds on the process’s own health by priority: low first, normal past the thresholds, critical never; a request may lower itself, never raise', async () => {
    const clock = new ManualClock();
    let delay = 0;
    const door = createAdmission({ limit: false, shedder: { clock, maxEventLoopDelayMs: 100, sampleIntervalMs: 500, probe: () => ({ eventLoopDelayMs: delay, heapUsedRatio: 0.1 }) } });
    const s = await serve(door, (url) => (url === '/health' ? 'critical' : url === '/repair' ? 'low' : 'normal'));
    delay = 60; // past half the threshold: low traffic goes
    clock.advance(500);
    expect((await s.get('/repair')).status).toBe(503);
    expect((await s.get('/a')).status).toBe(200);
    expect((await s.get('/a', { 'x-steadfast-priority': 'low' })).status).toBe(503);
    delay = 150; // past it: normal goes too
    clock.advance(500);
    const shed = await s.get('/a', { 'x-steadfast-priority': 'critical' });
    expect(shed).toMatchObject({ status: 503, retryAfter: '1', text: expect.stringMatching(/loadShedder: shed/) });
    expect((await s.get('/health')).status).toBe(200);
    delay = 0;
    clock.advance(500);
    expect((await s.get('/repair')).status).toBe(200);
    expect(door.stats).toMatchObject({ shedByHealth: 3, shedByLimit: 0, limit: null });
  });

  it('rejects options that are neither options nor false, naming them', () => {
    expect(() => createAdmission({ limit: 5 as never })).toThrow(/createAdmission: limit must be options for adaptiveLimit or false/);
    expect(() => createAdmission({ shedder: 'yes' as never })).toThrow(/createAdmission: shedder must be options for loadShedder or false/);
    expect(() => createAdmission({ limits: {} } as never)).toThrow(/limits/);
  });
});
