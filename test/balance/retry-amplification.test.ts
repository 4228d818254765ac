import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Balancer, createFailoverClient, RETRY_HEADER, type FailoverClient } from '../../src/balance/index.js';

// Two hops of failover on real sockets: a front client → 3 middle servers, each calling 3 back
// servers through its own FailoverClient. Every back server answers 503. Without the retry mark,
// each of the front's 3 attempts makes 3 attempts at the back: 9 back requests for one request
// (maxAttempts² — the retry storm of a deep call chain). With it, only the first middle attempt
// retries; a marked one makes one attempt: 3 + 1 + 1.

const servers: http.Server[] = [];
const clients: FailoverClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function listen(handler: http.RequestListener): Promise<string> {
  const s = http.createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(s.address() as { port: number }).port}`;
}

const client = (instances: string[]): FailoverClient => {
  // Round-robin and no ejection, so every attempt reaches a server; the budget's floor allows these few retries.
  const c = createFailoverClient({ balancer: new Balancer({ instances, strategy: 'round-robin', outlier: { consecutiveFailures: 1000 } }), maxAttempts: 3 });
  clients.push(c);
  return c;
};

describe('retry amplification across hops', () => {
  it('is bounded by the retry mark: one failing request costs 3 + 1 + 1 back-end attempts, not 3 × 3', async () => {
    let backHits = 0;
    const back = await Promise.all([0, 1, 2].map(() => listen((req, res) => (req.resume(), backHits++, res.writeHead(503).end('busy')))));
    const middle = await Promise.all(
      [0, 1, 2].map(() => {
        const c = client(back);
        return listen(async (req, res) => {
          req.resume();
          // A service passes the mark on with the request it makes for its caller.
          const mark = req.headers[RETRY_HEADER];
          const r = await c.request({ path: '/item', headers: mark === undefined ? {} : { [RETRY_HEADER]: mark } });
          res.writeHead(r.statusCode).end(r.body);
        });
      }),
    );
    const front = client(middle);
    const r = await front.request({ path: '/item' });
    expect(r.statusCode).toBe(503);
    expect(r.attempts).toHaveLength(3);
    expect(backHits).toBe(5);
    expect(front.stats).toMatchObject({ attempts: 3, retries: 2 });
  });
});
