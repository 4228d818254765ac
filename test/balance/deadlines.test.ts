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

/** An upstream that holds every request until the test answers it; records when (clock time) each arrived and was closed. */
async function held(clock: ManualClock, id: string) {
  const seen: { at: number; method: string; closedAt: number | null; answer: (body: string) => void }[] = [];
  const server = http.createServer((req, res) => {
    const entry = { at: clock.now(), method: req.method ?? '', closedAt: null as number | null, answer: (body: string) => res.end(`${body} from ${id}`) };
    seen.push(entry);
    res.on('close', () => (entry.closedAt = clock.now()));
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

  describe('the gateway hedges idempotent requests (hedgeAfterMs)', () => {
    // A per-try deadline of a minute: undici's own headersTimeout (perTryTimeoutMs + 1 s of real
    // time) cannot close the losing attempt within the test, only its cancellation can.
    const route = (a: string, b: string, perTryTimeoutMs: number) => ({ path: '/', upstreams: [a, b], strategy: 'round-robin' as const, hedgeAfterMs: 50, perTryTimeoutMs, timeoutMs: 120_000 });
    /** Two holding upstreams behind a hedging gateway on a ManualClock. */
    async function hedging(perTryTimeoutMs = 60_000) {
      const clock = new ManualClock();
      const a = await held(clock, 'a');
      const b = await held(clock, 'b');
      const gateway = await new Gateway({ clock, routes: [route(a.url, b.url, perTryTimeoutMs)] }).listen();
      /** Once the request reached one upstream: that one, then the other. */
      const order = async () => {
        while (a.seen.length + b.seen.length === 0) await tick();
        return a.seen.length > 0 ? ([a, b] as const) : ([b, a] as const);
      };
      return { clock, a, b, gateway, order };
    }

    it('a GET the first upstream holds goes to the next after hedgeAfterMs of clock time; the first answer passes on, the other attempt is cancelled', async () => {
      const { clock, a, gateway, order } = await hedging();
      try {
        let answer: { status: number; body: string; upstream: unknown } | undefined;
        void request(gateway.url + '/x').then(async (r) => (answer = { status: r.statusCode, body: await r.body.text(), upstream: r.headers['x-steadfast-upstream'] }));
        const [first, second] = await order();
        const start = clock.now();
        await advanceUntil(clock, () => false, 40);
        expect(second.seen).toHaveLength(0); // not before hedgeAfterMs
        await advanceUntil(clock, () => second.seen.length > 0, 1000);
        expect(second.seen[0]!.at - start).toBeGreaterThanOrEqual(50);
        expect(second.seen[0]!.at - start).toBeLessThanOrEqual(60);
        second.seen[0]!.answer('hedge');
        while (answer === undefined || first.seen[0]!.closedAt === null) await tick();
        expect(answer.status).toBe(200);
        expect(answer.body).toBe(`hedge from ${second === a ? 'a' : 'b'}`);
        const stats = gateway.routeStats()[0]!;
        expect(stats).toMatchObject({ requests: 1, attempts: 2, hedges: 1, retries: 1 });
      } finally {
        await gateway.close();
      }
    });

    it('when the first upstream answers after the hedge went out, its answer passes on and the hedge is cancelled', async () => {
      const { clock, a, gateway, order } = await hedging();
      try {
        let body: string | undefined;
        void request(gateway.url + '/x').then(async (r) => (body = await r.body.text()));
        const [first, second] = await order();
        await advanceUntil(clock, () => second.seen.length > 0, 1000);
        first.seen[0]!.answer('original');
        while (body === undefined || second.seen[0]!.closedAt === null) await tick();
        expect(body).toBe(`original from ${first === a ? 'a' : 'b'}`);
        expect(first.seen).toHaveLength(1);
        expect(second.seen).toHaveLength(1);
      } finally {
        await gateway.close();
      }
    });

    it('a POST is not hedged: it waits for its one upstream, up to the per-try deadline', async () => {
      const { clock, gateway, order } = await hedging(1000);
      try {
        let status: number | undefined;
        void request(gateway.url + '/x', { method: 'POST', body: '{}' }).then(async (r) => (await r.body.text(), (status = r.statusCode)));
        const [first, second] = await order();
        await advanceUntil(clock, () => status !== undefined, 5000);
        expect(status).toBe(504);
        expect(first.seen[0]!.closedAt! - first.seen[0]!.at).toBeGreaterThanOrEqual(990);
        expect(second.seen).toHaveLength(0);
        expect(gateway.routeStats()[0]!.hedges).toBe(0);
      } finally {
        await gateway.close();
      }
    });

    it('refuses a hedgeAfterMs that is not a whole number of ms, naming the route and the field', () => {
      expect(() => new Gateway({ routes: [{ path: '/', upstreams: ['http://127.0.0.1:1'], hedgeAfterMs: -1 }] })).toThrow(/routes\[0\].*hedgeAfterMs/);
    });
  });
});
