import http from 'node:http';
import { BodyTooLargeError, boundedServer, defaultMaxConnections, listen, readBody, sendJson } from '../core/http.js';
import { AbortedError, httpStatusOf } from '../core/errors.js';
import { createAdmission } from '../balance/admission.js';
import { retriedOf } from '../balance/attempt.js';
import type { Election } from '../election/election.js';
import { DbClient, QuorumError, type CallContext } from './db-client.js';
import { admissionMetrics, DemoNodeMetrics } from './node-metrics.js';
import { SkewedClock } from '../core/skewed-clock.js';
import { cpuMicros, demoAdmission, hostOf, ID_RE, itemError, type CartItem, type DemoNodeConfig } from './config.js';

export interface WebNode {
  readonly server: http.Server;
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A replica of the demo's front end: a small carts API, stateless — every cart lives in the db,
 * written to W replicas before the answer — so any replica can die without losing anything.
 *
 *   PUT /api/carts/:cart/items/:item  {"sku": "…", "qty": n}   add an item (idempotent: the id is the client's)
 *   GET /api/carts/:cart                                      the cart's items
 *
 * One replica at a time, elected with a fencing token, runs the maintenance task: every second it
 * counts the items on each db node and records the result on them, carrying its token — a deposed
 * leader that wakes up late is refused (409) by the db.
 */
export function createWebNode(cfg: DemoNodeConfig, db: DbClient, election: Election, clock: SkewedClock = new SkewedClock()): WebNode {
  const maintenance = { runs: 0, rejected: 0, lastTotals: null as Record<string, number> | null, since: undefined as number | undefined };
  // abandoned: requests whose caller went away before the answer (their db calls were stopped).
  const counts = { requests: 0, writes: 0, reads: 0, errors: 0, abandoned: 0 };
  let timer: NodeJS.Timeout | undefined;
  // Drops requests whose caller stopped waiting (x-steadfast-deadline-ms), sheds on the event
  // loop's delay, and holds an AIMD concurrency limit (demoAdmission says why AIMD and not
  // Gradient2), counting each.
  const door = createAdmission(demoAdmission(cfg));

  election.on('elected', () => (maintenance.since = Date.now()));
  election.on('revoked', () => (maintenance.since = undefined));

  async function maintain(): Promise<void> {
    const token = election.fencingToken;
    if (token === undefined) return;
    const totals: Record<string, number> = {};
    await Promise.all(
      db.healthyNodes().map(async (n) => {
        try {
          totals[n] = ((await db.status(n)) as { items: number }).items;
        } catch {
          // a node that does not answer is counted next time
        }
      }),
    );
    const run = ++maintenance.runs;
    maintenance.lastTotals = totals;
    const record = { leader: cfg.id, run, totals };
    const codes = await Promise.all(db.healthyNodes().map((n) => db.maintenance(n, token, record).catch(() => 0)));
    maintenance.rejected += codes.filter((c) => c === 409).length;
  }

  // Bounded like every server here: slow senders and idle connections are cut off.
  const server = boundedServer({ headersTimeoutMs: 10_000, requestTimeoutMs: 10_000, keepAliveTimeoutMs: 10_000, maxConnections: defaultMaxConnections() }, (req, res) => {
    void handle(req, res).catch((err: unknown) => {
      counts.errors++;
      if (!res.headersSent) sendJson(res, 500, { error: (err as Error)?.message ?? String(err) });
      else res.destroy();
    });
  });

  const metrics = new DemoNodeMetrics('web', [
    ...admissionMetrics(() => door.stats),
    {
      name: 'steadfast_demo_db_calls_total',
      help: 'Calls to the db tier: reads and writes asked of it, and requests sent to db nodes',
      type: 'counter',
      labelNames: ['kind'],
      read: () => (['reads', 'writes', 'requests'] as const).map((k) => ({ labels: { kind: k }, value: db.stats[k] })),
    },
    { name: 'steadfast_demo_db_failovers_total', help: 'db requests that went to another replica after one failed', type: 'counter', read: () => db.stats.failovers },
    { name: 'steadfast_demo_db_hedges_total', help: 'db requests hedged to another replica while the first was slow', type: 'counter', read: () => db.stats.hedges },
    { name: 'steadfast_demo_read_repairs_total', help: 'Replicas repaired after a read found them behind', type: 'counter', read: () => db.stats.repairs },
    { name: 'steadfast_demo_quorum_failures_total', help: 'Reads and writes that did not reach their quorum', type: 'counter', read: () => db.stats.quorumFailures },
    { name: 'steadfast_demo_abandoned_total', help: 'Requests whose caller went away before the answer (db calls stopped)', type: 'counter', read: () => counts.abandoned },
    { name: 'steadfast_demo_errors_total', help: 'Requests answered with an error by this node', type: 'counter', read: () => counts.errors },
    { name: 'steadfast_demo_db_nodes_healthy', help: 'db nodes this web node sees healthy in the registry now', type: 'gauge', read: () => db.healthyNodes().length },
    { name: 'steadfast_election_leader', help: '1 while this node is the elected leader', type: 'gauge', read: () => (election.isLeader ? 1 : 0) },
    { name: 'steadfast_election_fencing_token', help: 'The fencing token of the current term, while leader', type: 'gauge', read: () => election.fencingToken },
  ]);

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (await metrics.serve(req, res)) return;
    metrics.track(res);
    if (url.pathname === '/health') return sendJson(res, 200, { id: cfg.id });
    if (url.pathname === '/status') {
      return sendJson(res, 200, { id: cfg.id, role: 'web', pid: process.pid, ...counts, db: db.stats, admission: door.stats, cpuMicros: cpuMicros(), clock: { aheadMs: Math.round(clock.aheadMs()), ...clock.current }, leader: election.isLeader, fencingToken: election.fencingToken ?? null, maintenance });
    }
    counts.requests++;
    const admitted = door.admit(req, res);
    if (!admitted) return;
    // A caller that goes away before the answer (a gateway's hedge that lost) stops the db calls.
    const gone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    try {
      const outcome = await api(req, res, url, { deadlineMs: admitted.deadlineMs, retried: retriedOf(req.headers), signal: gone.signal });
      admitted.done({ dropped: outcome === 'dropped' });
    } catch (error) {
      admitted.done({ error });
      throw error;
    }
  }

  async function api(req: http.IncomingMessage, res: http.ServerResponse, url: URL, call: CallContext): Promise<'dropped' | void> {
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts[0] !== 'api' || parts[1] !== 'carts' || parts.length < 3) return sendJson(res, 404, { error: `no route ${req.method} ${url.pathname}; try GET /api/carts/:cart or PUT /api/carts/:cart/items/:item` });
    const cart = parts[2]!;
    if (!ID_RE.test(cart)) return sendJson(res, 400, { error: 'cart id must be 1–64 letters, digits, _ or -' });
    try {
      if (parts.length === 3 && req.method === 'GET') {
        counts.reads++;
        const r = await db.read(cart, call);
        return sendJson(res, 200, { cart, items: r.items, replicas: r.nodes, complete: r.complete });
      }
      if (parts.length === 5 && parts[3] === 'items' && req.method === 'PUT') {
        const item = parts[4]!;
        if (!ID_RE.test(item)) return sendJson(res, 400, { error: 'item id must be 1–64 letters, digits, _ or -' });
        let body: unknown;
        try {
          body = JSON.parse((await readBody(req, 16 * 1024)).toString('utf8'));
        } catch (err) {
          return err instanceof BodyTooLargeError ? sendJson(res, httpStatusOf(err), { error: err.message }) : sendJson(res, 400, { error: 'body must be JSON: { "sku": string, "qty": integer }' });
        }
        const problem = itemError(body);
        if (problem) return sendJson(res, 400, { error: problem });
        counts.writes++;
        const replicas = await db.write(cart, item, body as CartItem, call);
        return sendJson(res, 200, { cart, item, replicas });
      }
      return sendJson(res, 405, { error: `${req.method} not allowed on ${url.pathname}` });
    } catch (err) {
      if (err instanceof AbortedError && call.signal?.aborted) {
        counts.abandoned++;
        return; // nobody to answer; not a failure of this node
      }
      counts.errors++;
      if (err instanceof QuorumError) {
        sendJson(res, httpStatusOf(err), { error: err.message, failures: err.failures });
        return 'dropped'; // the db could not keep up or is down: an overload signal for the limit
      }
      throw err;
    }
  }

  return {
    server,
    async start() {
      await listen(server, cfg.port, hostOf(cfg));
      timer = setInterval(() => void maintain().catch(() => {}), 1000);
    },
    async close() {
      if (timer) clearInterval(timer);
      door.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
