import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { Balancer, createFailoverClient, Gateway } from '../../src/balance/index.js';
import { ManualClock } from '../../src/core/clock.js';

// Deadlines on a ManualClock against real sockets: time moves only when the test moves it, so
// what is asserted is when (in clock time) an attempt gives up — never how fast the machine is.
// The real waits below only let socket I/O happen between steps.

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** An upstream that accepts requests and never answers; records when (clock time) each arrived and was given up. */
async function hung(clock: ManualClock) {
  const seen: { at: number; closedAt: number | null }[] = [];
  const server = http.createServer((req) => {
    const entry = { at: clock.now(), closedAt: null as number | null };
    seen.push(entry);
    req.socket.on('close', () => (entry.closedAt = clock.now()));
  });
  servers.push(server);
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
  return { url: `http://127.0.0.1:${port}`, seen };
}

async function answering(body: string) {
  const server = http.createServer((_req, res) => res.end(body));
  servers.push(server);
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
  return `http://127.0.0.1:${port}`;
}

const tick = () => new Promise((r) => setTimeout(r, 1));

/** Moves the clock in 10 ms steps until `done()` holds (at most `limitMs` of clock time). */
async function advanceUntil(clock: ManualClock, done: () => boolean, limitMs: number): Promise<void> {
  const end = clock.now() + limitMs;
  while (!done() && clock.now() < end) {
    clock.advance(10);
    await tick();
  }
}

describe('deadlines on ManualClock, real sockets', () => {
  it('the gateway gives up on a hung upstream after perTryTimeoutMs of clock time and answers from the next', async () => {
    const clock = new ManualClock();
    const a = await hung(clock);
    const b = await answering('from b');
    const gateway = await new Gateway({ clock, routes: [{ path: '/', upstreams: [a.url, b], strategy: 'round-robin', perTryTimeoutMs: 1000, timeoutMs: 10_000 }] }).listen();
    try {
      let answer: { status: number; body: string } | undefined;
      void request(gateway.url + '/x').then(async (r) => (answer = { status: r.statusCode, body: await r.body.text() }));
      // Until the hung upstream has the request, the clock stands still.
      while (a.seen.length === 0) await tick();
      await advanceUntil(clock, () => a.seen[0]!.closedAt !== null, 5000);
      const gaveUpAfter = a.seen[0]!.closedAt! - a.seen[0]!.at;
      // The wheel fires between perTryTimeoutMs and 1.1× that (two 50 ms ticks), ± one 10 ms step.
      expect(gaveUpAfter).toBeGreaterThanOrEqual(990);
      expect(gaveUpAfter).toBeLessThanOrEqual(1120);
      const frozen = clock.now();
      while (answer === undefined) await tick(); // no more clock time needed: b answers at once
      expect(answer).toEqual({ status: 200, body: 'from b' });
      expect(clock.now()).toBe(frozen);
    } finally {
      await gateway.close();
    }
  });

  it('the gateway answers 504 when every upstream hangs, after its per-try deadlines — not before', async () => {
    const clock = new ManualClock();
    const a = await hung(clock);
    const b = await hung(clock);
    const gateway = await new Gateway({ clock, routes: [{ path: '/', upstreams: [a.url, b.url], strategy: 'round-robin', perTryTimeoutMs: 500, timeoutMs: 10_000 }] }).listen();
    try {
      let status: number | undefined;
      let text = '';
      void request(gateway.url + '/x').then(async (r) => ((text = await r.body.text()), (status = r.statusCode)));
      while (a.seen.length === 0) await tick();
      const start = clock.now();
      await advanceUntil(clock, () => status !== undefined, 5000);
      expect(status).toBe(504);
      expect(text).toMatch(/timeout.*timeout/s);
      expect(clock.now() - start).toBeGreaterThanOrEqual(2 * 500 - 10);
      expect(b.seen).toHaveLength(1);
    } finally {
      await gateway.close();
    }
  });

  it('FailoverClient.request() aborts a hung attempt at perTryTimeoutMs of clock time and tries the next', async () => {
    const clock = new ManualClock();
    const a = await hung(clock);
    const b = await answering('ok');
    const client = createFailoverClient({ clock, balancer: new Balancer({ clock, instances: [a.url, b], strategy: 'round-robin' }), perTryTimeoutMs: 300 });
    try {
      let body: string | undefined;
      void client.request({ path: '/x' }).then((r) => (body = r.body.toString()));
      while (a.seen.length === 0) await tick();
      await advanceUntil(clock, () => a.seen[0]!.closedAt !== null, 5000);
      const gaveUpAfter = a.seen[0]!.closedAt! - a.seen[0]!.at;
      expect(gaveUpAfter).toBeGreaterThanOrEqual(290);
      expect(gaveUpAfter).toBeLessThanOrEqual(310);
      while (body === undefined) await tick();
      expect(body).toBe('ok');
      expect(client.stats.retries).toBe(1);
    } finally {
      await client.close();
    }
  });
});
