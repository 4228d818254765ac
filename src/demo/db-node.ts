import http from 'node:http';
import { request } from 'undici';
import { boundedServer, defaultMaxConnections, listen, readBody, sendJson } from '../core/http.js';
import { createAdmission } from '../balance/admission.js';
import { httpError, httpStatusOf } from '../core/errors.js';
import { FencingGuard, StaleTokenError } from '../election/fencing.js';
import { HashRing } from '../hashing/ring.js';
import { Checkpointer } from '../recovery/checkpointer.js';
import type { Journal } from '../recovery/journal.js';
import type { CheckpointStore } from '../recovery/store.js';
import { admissionMetrics, DemoNodeMetrics } from './node-metrics.js';
import { FENCE_LOG_MAX, type FenceEntry } from './fencing-log.js';
import { maintenanceId } from './fencing-log.js';
import { cpuMicros, demoAdmission, hasSecret, hostOf, ID_RE, itemError, type CartItem, type DemoNodeConfig, type Entries } from './config.js';

interface Snapshot {
  entries: Entries;
  /** The highest fencing token seen, so a restarted node still refuses a deposed leader. */
  fencing: number;
  maintenance: unknown;
}

/** One change to a db node's data, as its journal records it. */
export type DbEntry =
  | { t: 'put'; key: string; id: string; item: CartItem }
  | { t: 'merge'; entries: Entries }
  | { t: 'fence'; token: number; maintenance: unknown };

/** How often a db node checkpoints its whole data (the journal holds every write in between). */
export const DB_CHECKPOINT_INTERVAL_MS = 3000;

export interface DbNode {
  readonly ready: boolean;
  /** Resolves when the node has restored its checkpoint, replayed its journal and caught up from its peers. */
  start(): Promise<{ restoredId: number | undefined; replayed: number; restoredItems: number; caughtUpItems: number; peersAnswered: number }>;
  /** Stops serving and closes the journal — as a crash leaves it: what came after the last checkpoint is replayed at the next start. */
  close(): Promise<void>;
  /** A graceful stop: stops serving, saves a final checkpoint, then closes: the next start has nothing to replay. */
  shutdown(): Promise<void>;
  readonly server: http.Server;
}

const MAX_BODY = 4 * 1024 * 1024;

/**
 * One node of the demo's key-value service. Data is a grow-only map per key (items merge by
 * union), so replicas converge whatever the order of writes, repairs and catch-ups.
 *
 * Durability: a write is answered only after its journal record is durable (group-committed:
 * writes that arrive during a sync share the next one), so an acknowledged write survives a
 * SIGKILL of this node; every few seconds a checkpoint of the whole data is saved and the journal
 * behind it truncated, so a write costs the same whatever the data size. The highest fencing
 * token is journaled the same way before a maintenance write is answered. On start the node
 * restores its newest checkpoint, replays the journal after it, then catches up from its peers —
 * the writes it missed while down went to the next nodes on the ring — and only then reports ready.
 */
export function createDbNode(cfg: DemoNodeConfig, store: CheckpointStore, journal: Journal<DbEntry>): DbNode {
  const data = new Map<string, Map<string, CartItem>>();
  const guard = new FencingGuard();
  let maintenance: unknown = null;
  let fencing = { accepted: 0, rejected: 0 };
  // Every maintenance write this process was asked to take, for the run's fencing check (the
  // supervisor reads it with /status?fencingAfter=SEQ): refused ones, and accepted ones once
  // journaled. The newest FENCE_LOG_MAX are kept (one a second per leader: hours of a run).
  const fenceLog: FenceEntry[] = [];
  let fenceSeq = 0;
  const logFence = (token: number, writer: unknown, accepted: boolean, arrivedAt: number, value?: string): void => {
    fenceLog.push({ seq: ++fenceSeq, token, ...(typeof writer === 'string' ? { writer } : {}), accepted, at: arrivedAt, doneAt: Date.now(), ...(value !== undefined ? { value } : {}) });
    if (fenceLog.length > FENCE_LOG_MAX) fenceLog.splice(0, fenceLog.length - FENCE_LOG_MAX);
  };
  let ready = false;
  let itemCount = 0;
  const ring = new HashRing();
  for (const n of cfg.dbNodes) ring.add(n.id);
  const stats = { restoredId: undefined as number | undefined, replayed: 0, restoredItems: 0, caughtUpItems: 0, peersAnswered: 0, writes: 0, repairs: 0 };

  const merge = (key: string, items: Record<string, CartItem>): number => {
    let m = data.get(key);
    if (!m) data.set(key, (m = new Map()));
    let added = 0;
    for (const [id, item] of Object.entries(items)) {
      if (!m.has(id)) {
        m.set(id, { sku: item.sku, qty: item.qty });
        added++;
      }
    }
    itemCount += added;
    return added;
  };
  const snapshot = (): Snapshot => {
    const entries: Entries = {};
    for (const [k, m] of data) entries[k] = Object.fromEntries(m);
    return { entries, fencing: guard.highest, maintenance };
  };
  const fence = (token: number): void => {
    if (token > guard.highest) guard.check(token);
  };
  const checkpointer = new Checkpointer<Snapshot, DbEntry>({
    store,
    stream: cfg.id,
    snapshot,
    apply: (s) => {
      for (const [k, items] of Object.entries(s.entries)) merge(k, items);
      if (s.fencing > 0) fence(s.fencing);
      maintenance = s.maintenance;
    },
    journal,
    // Idempotent (items merge by union, tokens only go up), so replaying an entry twice is harmless.
    replay: (e) => {
      if (e.t === 'put') merge(e.key, { [e.id]: e.item });
      else if (e.t === 'merge') for (const [k, items] of Object.entries(e.entries)) merge(k, items);
      else {
        fence(e.token);
        maintenance = e.maintenance;
      }
    },
    intervalMs: DB_CHECKPOINT_INTERVAL_MS,
    keep: 2,
  });

  const entriesJson = (filter?: (key: string) => boolean): Entries => {
    const out: Entries = {};
    for (const [k, m] of data) if (!filter || filter(k)) out[k] = Object.fromEntries(m);
    return out;
  };

  // Drops requests whose caller stopped waiting (x-steadfast-deadline-ms), and counts them. No
  // limit and no shedder here yet: measured with every process of the demo on two cores
  // (bench:demo-overload, docs/benchmarks.md), Gradient2 and AIMD limits and the event-loop
  // shedder in these nodes shed at 0.8× capacity and served less at 2.5× than no shedding.
  const door = createAdmission(demoAdmission(cfg));
  // Bounded like every server here: slow senders and idle connections are cut off.
  const server = boundedServer({ headersTimeoutMs: 10_000, requestTimeoutMs: 10_000, keepAliveTimeoutMs: 10_000, maxConnections: defaultMaxConnections() }, (req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: (err as Error)?.message ?? String(err) });
      else res.destroy();
    });
  });

  async function body(req: http.IncomingMessage): Promise<unknown> {
    const buf = await readBody(req, MAX_BODY);
    try {
      return JSON.parse(buf.toString('utf8'));
    } catch {
      throw httpError(400, 'body must be JSON');
    }
  }

  const metrics = new DemoNodeMetrics('db', [
    ...admissionMetrics(() => door.stats),
    { name: 'steadfast_demo_db_keys', help: 'Keys (carts) this node holds', type: 'gauge', read: () => data.size },
    { name: 'steadfast_demo_db_items', help: 'Items this node holds', type: 'gauge', read: () => itemCount },
    { name: 'steadfast_demo_db_writes_total', help: 'Writes journaled and answered', type: 'counter', read: () => stats.writes },
    { name: 'steadfast_demo_db_repairs_total', help: 'Repairs (merges from the web tier or peers) applied', type: 'counter', read: () => stats.repairs },
    { name: 'steadfast_demo_db_ready', help: '1 once restored and caught up', type: 'gauge', read: () => (ready ? 1 : 0) },
    { name: 'steadfast_checkpoint_saves_total', help: 'Checkpoints saved', type: 'counter', read: () => checkpointer.stats.saves },
    { name: 'steadfast_checkpoint_failures_total', help: 'Checkpoint saves that failed', type: 'counter', read: () => checkpointer.stats.failures },
    { name: 'steadfast_checkpoint_last_duration_seconds', help: 'How long the last checkpoint save took', type: 'gauge', read: () => (checkpointer.stats.lastDurationMs === undefined ? undefined : checkpointer.stats.lastDurationMs / 1000) },
    { name: 'steadfast_checkpoint_last_size_bytes', help: 'Size of the last checkpoint saved', type: 'gauge', read: () => checkpointer.stats.lastSize },
    { name: 'steadfast_journal_entries_since_checkpoint', help: 'Journal records a restart would replay', type: 'gauge', read: () => checkpointer.stats.sinceCheckpoint },
    { name: 'steadfast_journal_last_sequence', help: 'Sequence number of the last journal record', type: 'gauge', read: () => journal.lastSeq },
    {
      name: 'steadfast_fencing_writes_total',
      help: 'Maintenance writes by outcome: accepted, or rejected for a stale fencing token',
      type: 'counter',
      labelNames: ['outcome'],
      read: () => [
        { labels: { outcome: 'accepted' }, value: fencing.accepted },
        { labels: { outcome: 'rejected' }, value: fencing.rejected },
      ],
    },
  ]);

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean);
    try {
      if (await metrics.serve(req, res)) return;
      metrics.track(res);
      if (req.method === 'GET' && url.pathname === '/health') return sendJson(res, ready ? 200 : 503, { id: cfg.id, ready });
      if (req.method === 'GET' && url.pathname === '/status') {
        const after = Number(url.searchParams.get('fencingAfter') ?? fenceSeq);
        const log = fenceLog.filter((e) => e.seq > after);
        return sendJson(res, 200, { id: cfg.id, role: 'db', pid: process.pid, ready, keys: data.size, items: itemCount, ...stats, checkpoint: checkpointer.stats, journal: { lastSeq: journal.lastSeq }, fencing: { highest: guard.highest, ...fencing, log }, admission: door.stats, cpuMicros: cpuMicros(), maintenance });
      }
      // Everything else is for the web tier and the other db nodes only: they hold the run's secret.
      if (!hasSecret(req.headers.authorization, cfg.secret)) {
        req.resume();
        return sendJson(res, 401, { error: 'this db endpoint needs the run\'s secret (Authorization: Bearer …); only the web tier and db peers have it' });
      }
      // Reads, writes and repairs go through the door: a request whose caller stopped waiting is
      // dropped before any work (with a limit or shedder configured, repairs would go first).
      const priority = parts[0] === 'kv' ? 'normal' : url.pathname === '/merge' ? 'low' : undefined;
      if (priority !== undefined) {
        const admitted = door.admit(req, res, priority);
        if (!admitted) return void req.resume();
        try {
          return await kvRoutes(req, res, url, parts);
        } finally {
          admitted.done();
        }
      }
      return await control(req, res, url);
    } catch (err) {
      const status = httpStatusOf(err);
      if (!res.headersSent) sendJson(res, status, { error: (err as Error).message });
    }
  }

  /** The web tier's and the peers' reads, writes and repairs. */
  async function kvRoutes(req: http.IncomingMessage, res: http.ServerResponse, url: URL, parts: string[]): Promise<void> {
    if (parts[0] === 'kv' && parts.length === 3 && req.method === 'PUT') {
      const [, key, id] = parts as [string, string, string];
      if (!ID_RE.test(key) || !ID_RE.test(id)) return sendJson(res, 400, { error: 'key and item id must be 1–64 letters, digits, _ or -' });
      const item = await body(req);
      const problem = itemError(item);
      if (problem) return sendJson(res, 400, { error: problem });
      stats.writes++;
      await checkpointer.record({ t: 'put', key, id, item: { sku: (item as CartItem).sku, qty: (item as CartItem).qty } }); // acknowledged = its journal record is durable
      res.writeHead(204).end();
      return;
    }
    if (parts[0] === 'kv' && parts.length === 2 && req.method === 'GET') {
      const m = data.get(parts[1]!);
      return sendJson(res, 200, { key: parts[1], items: m ? Object.fromEntries(m) : {} });
    }
    if (req.method === 'POST' && url.pathname === '/merge') {
      const b = (await body(req)) as { entries?: unknown };
      if (!b || typeof b.entries !== 'object' || b.entries === null) return sendJson(res, 400, { error: 'body must be { "entries": { key: { itemId: item } } }' });
      // Validate all of it first: a bad item refuses the whole merge, nothing half-applied.
      const fresh: Entries = {};
      let added = 0;
      for (const [k, items] of Object.entries(b.entries as Record<string, Record<string, unknown>>)) {
        if (!ID_RE.test(k) || typeof items !== 'object' || items === null) return sendJson(res, 400, { error: `entries.${k} is not a valid key with items` });
        for (const [id, it] of Object.entries(items)) {
          const problem = ID_RE.test(id) ? itemError(it) : 'item ids must be 1–64 letters, digits, _ or -';
          if (problem) return sendJson(res, 400, { error: `entries.${k}.${id}: ${problem}` });
          if (data.get(k)?.has(id)) continue;
          (fresh[k] ??= {})[id] = { sku: (it as CartItem).sku, qty: (it as CartItem).qty };
          added++;
        }
      }
      if (added > 0) await checkpointer.record({ t: 'merge', entries: fresh });
      stats.repairs += added;
      return sendJson(res, 200, { added });
    }
    sendJson(res, 404, { error: `no route ${req.method} ${url.pathname}` });
  }

  /** Dumps for a recovering peer, and the maintenance record (with its fencing token). */
  async function control(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    if (req.method === 'GET' && url.pathname === '/dump') {
      const owner = url.searchParams.get('for');
      return sendJson(res, 200, { id: cfg.id, entries: entriesJson(owner ? (k) => ring.lookupN(k, cfg.replicas + 1).includes(owner) : undefined) });
    }
    if (req.method === 'PUT' && url.pathname === '/maintenance') {
      const arrivedAt = Date.now();
      const token = Number(req.headers['x-fencing-token']);
      const b = await body(req);
      try {
        guard.check(token);
      } catch (err) {
        if (err instanceof StaleTokenError) {
          fencing = { ...fencing, rejected: fencing.rejected + 1 };
          logFence(token, (b as { leader?: unknown } | null)?.leader, false, arrivedAt);
          return sendJson(res, 409, { error: err.message, highest: guard.highest });
        }
        return sendJson(res, 400, { error: `x-fencing-token: ${(err as Error).message}` });
      }
      fencing = { ...fencing, accepted: fencing.accepted + 1 };
      // Journaled before the answer: a restarted node still refuses a deposed leader's token.
      const record = { ...(b as object), token, at: Date.now() };
      await checkpointer.record({ t: 'fence', token, maintenance: record });
      logFence(token, (b as { leader?: unknown } | null)?.leader, true, arrivedAt, maintenanceId(record) ?? undefined);
      return sendJson(res, 200, { ok: true });
    }
    sendJson(res, 404, { error: `no route ${req.method} ${url.pathname}` });
  }

  return {
    server,
    get ready() {
      return ready;
    },
    async start() {
      // Restore before listening: a write taken before the restore would be saved in a
      // checkpoint without the restored data, and the restore would then load that one.
      const restored = await checkpointer.restore();
      stats.replayed = checkpointer.stats.replayed;
      // Then serve (reads and writes meet a quorum elsewhere too) while catching up.
      await listen(server, cfg.port, hostOf(cfg));
      stats.restoredId = restored?.id;
      stats.restoredItems = itemCount;
      const before = itemCount;
      await Promise.all(
        cfg.dbNodes
          .filter((n) => n.id !== cfg.id)
          .map(async (peer) => {
            try {
              const r = await request(`${peer.url}/dump?for=${encodeURIComponent(cfg.id)}`, { headersTimeout: 2000, bodyTimeout: 5000, headers: { authorization: `Bearer ${cfg.secret}` } });
              if (r.statusCode !== 200) {
                await r.body.dump();
                return;
              }
              const dump = (await r.body.json()) as { entries: Entries };
              for (const [k, items] of Object.entries(dump.entries)) merge(k, items);
              stats.peersAnswered++;
            } catch {
              // a peer that is down or paused: the others have what it would have given
            }
          }),
      );
      stats.caughtUpItems = itemCount - before;
      // What came from peers is in no journal: a checkpoint makes it durable here too.
      if (stats.caughtUpItems > 0 || restored === undefined) await checkpointer.checkpointNow();
      checkpointer.start();
      ready = true;
      return { restoredId: stats.restoredId, replayed: stats.replayed, restoredItems: stats.restoredItems, caughtUpItems: stats.caughtUpItems, peersAnswered: stats.peersAnswered };
    },
    async close() {
      door.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await checkpointer.stop();
      await journal.close();
    },
    async shutdown() {
      door.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      // Nothing is written any more: this checkpoint holds every acknowledged write.
      await checkpointer.checkpointNow();
      await checkpointer.stop();
      await journal.close();
    },
  };
}
