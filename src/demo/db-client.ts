import { Agent, request } from 'undici';
import { bufferedRequest } from '../core/buffered-request.js';
import type { Disposable } from '../core/events.js';
import { systemClock, type Clock } from '../core/clock.js';
import { AbortedError, ErrorCode, SteadfastError } from '../core/errors.js';
import { HashRing } from '../hashing/ring.js';
import { hedgeRace } from '../policy/hedge.js';
import type { Registry } from '../registry/registry.js';
import type { CartItem } from './config.js';

export interface DbClientOptions {
  nodes: { id: string; url: string }[];
  /** Replicas per key (R), and answers a read waits for. */
  replicas: number;
  /** Acknowledgements a write needs (W). */
  writeQuorum: number;
  /** One request to one node. */
  perTryTimeoutMs: number;
  /** No answer from a node after this long: ask the next one too (its answer counts the same). Default perTryTimeoutMs / 3. */
  hedgeAfterMs?: number;
  /** A node that failed a request goes to the end of preference lists for this long. Default 1000. */
  suspectMs?: number;
  /** Healthy db nodes come from here (service 'db'); without it, every node counts as healthy. */
  registry?: Registry;
  /** The run's secret, sent to the db nodes as `Authorization: Bearer …`. */
  secret?: string;
  /** Hedge timers and suspicion (tests pass a ManualClock). */
  clock?: Clock;
}

/** Fewer db nodes than the quorum answered (ERR_QUORUM_FAILED, HTTP 503). */
export class QuorumError extends SteadfastError {
  constructor(
    message: string,
    readonly failures: { node: string; error: string }[],
  ) {
    super(ErrorCode.QUORUM_FAILED, message, { retryable: true });
  }
}

/** What the request a db call serves says of itself. */
export interface CallContext {
  /** Time the caller still gives it (ms): each try waits at most that, and none starts after it. */
  deadlineMs?: number | undefined;
  /** The request is a retry made by the hop before: no hedges (failures still move on). */
  retried?: boolean;
  /** The caller went away (a gateway's hedge that lost, a client that closed): stop the calls. */
  signal?: AbortSignal | undefined;
}

interface Attempt<T> {
  node: string;
  ok: boolean;
  value?: T;
  error?: string;
}

/**
 * The web tier's client of the db: Dynamo-style replication over a consistent-hash ring.
 *
 * A key's preference list is the ring walked from the key: the first R healthy nodes, then the
 * rest (a sloppy quorum — when an owner is down, the next node on the ring takes its writes).
 * A write goes to R nodes at once; each failure sends it on to the next node in the list; it is
 * acknowledged when W nodes have saved it. A read asks R nodes the same way, answers with the
 * union of what they hold (items only ever merge), and repairs any replica that missed items.
 * With N = 3, R = 2, W = 2, every read quorum meets every write quorum (R + W > N).
 */
export class DbClient {
  private readonly ring = new HashRing();
  private readonly urls = new Map<string, string>();
  private healthy: Set<string>;
  private readonly suspectUntil = new Map<string, number>();
  private readonly agent = new Agent({ connections: 64, keepAliveTimeout: 10_000 });
  private readonly watch: Disposable | undefined;
  /** `requests`: to db nodes, for reads and writes (R per call, plus failovers and hedges). */
  readonly stats = { writes: 0, reads: 0, requests: 0, failovers: 0, hedges: 0, repairs: 0, quorumFailures: 0 };

  private readonly clock: Clock;

  constructor(private readonly o: DbClientOptions) {
    this.clock = o.clock ?? systemClock;
    for (const n of o.nodes) {
      this.ring.add(n.id);
      this.urls.set(n.id, n.url);
    }
    this.healthy = new Set(o.nodes.map((n) => n.id));
    if (o.registry) {
      this.watch = o.registry.watch('db', (list) => {
        this.healthy = new Set(list.map((h) => h.instance.id));
      });
    }
  }

  /**
   * The preference list: healthy nodes in ring order, then nodes that failed a request in the
   * last suspectMs (passive detection — faster than the registry's), then the rest (last resort).
   */
  preferenceList(key: string): string[] {
    const all = this.ring.lookupN(key, this.o.nodes.length);
    const now = this.clock.now();
    const rank = (n: string): number => (!this.healthy.has(n) ? 2 : (this.suspectUntil.get(n) ?? 0) > now ? 1 : 0);
    return all.map((n, i) => ({ n, r: rank(n), i })).sort((a, b) => a.r - b.r || a.i - b.i).map((x) => x.n);
  }

  healthyNodes(): string[] {
    return [...this.healthy];
  }

  /**
   * Sends `call` to the first `want` nodes of the list, moving on to the next one after each
   * failure, and to the next one as well when none answered for hedgeAfterMs (a paused or
   * overloaded node should not hold the request up); resolves when `want` succeeded or the list
   * ran out. The same hedging engine as HedgePolicy and the failover client's hedged requests.
   */
  private async quorum<T>(list: string[], want: number, ctx: CallContext, call: (node: string, url: string, budgetMs: number, signal: AbortSignal | undefined) => Promise<T>): Promise<{ ok: Attempt<T>[]; failed: Attempt<T>[] }> {
    const deadline = ctx.deadlineMs === undefined ? Infinity : this.clock.now() + ctx.deadlineMs;
    const left = (): number => Math.min(this.o.perTryTimeoutMs, Math.floor(deadline - this.clock.now()));
    const outcome = await hedgeRace<string, T>({
      candidates: list,
      want,
      delayMs: this.o.hedgeAfterMs ?? Math.max(1, Math.round(this.o.perTryTimeoutMs / 3)),
      clock: this.clock,
      signal: ctx.signal,
      mayStart: (_index, cause) => {
        if (left() <= 0) return false; // the caller's time is up: start nothing more
        if (cause === undefined) {
          if (ctx.retried) return false; // a retry is not hedged: it would multiply the load
          this.stats.hedges++;
        }
        return true;
      },
      start: (node) => {
        this.stats.requests++;
        return {
          result: call(node, this.urls.get(node)!, Math.max(1, left()), ctx.signal).catch((err: unknown) => {
            // Passive detection: a node that failed goes to the end of preference lists for a while.
            if (!ctx.signal?.aborted) this.suspectUntil.set(node, this.clock.now() + (this.o.suspectMs ?? 1000));
            throw err;
          }),
          cancel: () => {}, // a write that reaches one more replica does no harm
        };
      },
    });
    // The caller went away (CallContext.signal): nobody waits for the answer.
    if (outcome.aborted) throw new AbortedError('the caller went away; the db calls were stopped');
    this.stats.failovers += outcome.lost.length;
    return {
      ok: outcome.won.map((w) => ({ node: w.candidate, ok: true, value: w.value as T })),
      failed: outcome.lost.map((l) => ({ node: l.candidate, ok: false, error: (l.error as { code?: string }).code ?? (l.error as Error).message })),
    };
  }

  private async send(origin: string, path: string, method: 'GET' | 'PUT' | 'POST', body?: string, budgetMs?: number, signal?: AbortSignal): Promise<{ status: number; text: string }> {
    const t = budgetMs ?? this.o.perTryTimeoutMs;
    const headers: Record<string, string> = body !== undefined ? { 'content-type': 'application/json' } : {};
    // The db node drops the work if it arrives after the caller stopped waiting.
    if (budgetMs !== undefined) headers['x-steadfast-deadline-ms'] = String(budgetMs);
    if (this.o.secret !== undefined) headers.authorization = `Bearer ${this.o.secret}`;
    // undici's timeouts, on its ~1 s timer wheel: a call ends between t and about t + 1 s. A timer
    // of our own (requestDeadline), tried, ended them at t — and at 1400 req/s, with two cores
    // busy, loaded calls past 800 ms failed over and took goodput from 1394–1396 to 1299–1301
    // req/s (two interleaved 15 s rounds each). Hedges (after 100 ms) keep reads off a stopped node.
    // bufferedRequest, not request(): no body stream per call.
    const r = await bufferedRequest(this.agent, { origin, path, method, headersTimeout: t, bodyTimeout: t, headers, body, signal });
    if (r.statusCode >= 500) throw new Error(`HTTP ${r.statusCode}`);
    return { status: r.statusCode, text: r.body.toString() };
  }

  /** Writes one item; resolves with the nodes that saved it once W have. */
  async write(key: string, itemId: string, item: CartItem, ctx: CallContext = {}): Promise<string[]> {
    this.stats.writes++;
    const body = JSON.stringify(item);
    const { ok, failed } = await this.quorum(this.preferenceList(key), this.o.replicas, ctx, async (_node, url, budgetMs, signal) => {
      const r = await this.send(url, `/kv/${key}/${itemId}`, 'PUT', body, budgetMs, signal);
      if (r.status !== 204) throw Object.assign(new Error(`HTTP ${r.status}: ${r.text}`), { code: `HTTP_${r.status}` });
    });
    if (ok.length < this.o.writeQuorum) {
      this.stats.quorumFailures++;
      throw new QuorumError(`write of ${key}/${itemId} saved by ${ok.length} of the ${this.o.writeQuorum} nodes it needs`, failed.map((f) => ({ node: f.node, error: f.error ?? '' })));
    }
    return ok.map((a) => a.node);
  }

  /** Reads a key from R nodes (fewer only if fewer answer), returns the union, repairs stale replicas. */
  async read(key: string, ctx: CallContext = {}): Promise<{ items: Record<string, CartItem>; nodes: string[]; complete: boolean }> {
    this.stats.reads++;
    const { ok, failed } = await this.quorum(this.preferenceList(key), this.o.replicas, ctx, async (_node, url, budgetMs, signal) => {
      const r = await this.send(url, `/kv/${key}`, 'GET', undefined, budgetMs, signal);
      if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
      return (JSON.parse(r.text) as { items: Record<string, CartItem> }).items;
    });
    if (ok.length === 0) {
      this.stats.quorumFailures++;
      throw new QuorumError(`read of ${key}: no db node answered`, failed.map((f) => ({ node: f.node, error: f.error ?? '' })));
    }
    const union: Record<string, CartItem> = {};
    for (const a of ok) Object.assign(union, a.value);
    const total = Object.keys(union).length;
    for (const a of ok) {
      const have = a.value!;
      if (Object.keys(have).length === total) continue;
      const missing: Record<string, CartItem> = {};
      for (const [id, it] of Object.entries(union)) if (!(id in have)) missing[id] = it;
      this.stats.repairs++;
      void this.send(this.urls.get(a.node)!, '/merge', 'POST', JSON.stringify({ entries: { [key]: missing } })).catch(() => {});
    }
    return { items: union, nodes: ok.map((a) => a.node), complete: ok.length >= this.o.replicas };
  }

  /** GET a node's JSON (status, stats). */
  async status(node: string): Promise<unknown> {
    const r = await this.send(this.urls.get(node)!, '/status', 'GET');
    return JSON.parse(r.text);
  }

  /** PUT the maintenance record to a node with a fencing token; resolves with the node's status code. */
  async maintenance(node: string, token: number, record: unknown): Promise<number> {
    const t = this.o.perTryTimeoutMs;
    const r = await request(`${this.urls.get(node)}/maintenance`, { method: 'PUT', dispatcher: this.agent, headersTimeout: t, bodyTimeout: t, body: JSON.stringify(record), headers: { 'content-type': 'application/json', 'x-fencing-token': String(token), ...(this.o.secret !== undefined ? { authorization: `Bearer ${this.o.secret}` } : {}) } });
    await r.body.dump();
    return r.statusCode;
  }

  async close(): Promise<void> {
    this.watch?.dispose();
    await this.agent.close();
  }
}
