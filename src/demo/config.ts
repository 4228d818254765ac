import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { GatewayRoute } from '../balance/gateway.js';

/** The demo's process kinds: each runs as its own processes, registered as the service of that name. */
export type DemoRole = 'db' | 'web' | 'gateway';
export const DEMO_ROLES: readonly DemoRole[] = ['db', 'web', 'gateway'];
/** Every kind of process the demo runs: the registered roles, the registry itself, and the members of its own etcd cluster. */
export type DemoProcessRole = DemoRole | 'registry' | 'etcd';

/** What the demo's supervisor tells each node process (as JSON in STEADFAST_DEMO_NODE). */
export interface DemoNodeConfig {
  role: DemoRole;
  /** db-1, web-2, gateway-1, … — also the registry instance id. */
  id: string;
  port: number;
  /**
   * The address it listens on and registers with: 127.0.0.1, or its own address when the demo
   * runs every process in a network namespace of its own (DemoOptions.hosts). Default 127.0.0.1.
   */
  host?: string;
  /** Every db node, in a fixed order: the ring is built from their ids. */
  dbNodes: { id: string; url: string }[];
  /** Replicas per key (R). */
  replicas: number;
  /** Acknowledgements a write needs (W). */
  writeQuorum: number;
  /** Where nodes register: steadfast's Consul-compatible server, or etcd. */
  registry: { kind: 'consul'; url: string } | { kind: 'etcd'; endpoints: string[] };
  /** db: where checkpoints go. */
  store: { kind: 'file'; dir: string } | { kind: 'redis'; url: string; prefix: string };
  /** TTL of each instance's health check, and how often it is renewed. */
  ttlMs: number;
  heartbeatMs: number;
  /** How the registry judges this node's heartbeats (DemoOptions.detector). */
  detector: 'ttl' | 'phi';
  /** Lease of the maintenance task's leader election. */
  electionTtlMs: number;
  /** A db node's per-request deadline when web talks to it. */
  dbTimeoutMs: number;
  /**
   * This run's shared secret: db nodes answer their data and maintenance endpoints only to
   * callers that send it (`Authorization: Bearer …`) — the web tier and their peers. Without it,
   * anyone on the machine could send a forged fencing token and lock the real leader out.
   */
  secret: string;
}

/** Whether a request carries the run's secret (compared in constant time). */
export function hasSecret(header: string | undefined, secret: string): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7) : '');
  const want = Buffer.from(secret);
  return given.length === want.length && timingSafeEqual(given, want);
}

export const DEMO_NODE_ENV = 'STEADFAST_DEMO_NODE';

/** The registry's process name (and the role of its process). */
export const DEMO_REGISTRY_ID = 'registry';

/**
 * The demo's registry in its own process: steadfast's Consul-compatible server on a port that
 * stays the same across restarts, its services and KV checkpointed in `dir` (every write answered
 * once saved), so a restarted registry starts from what it had.
 */
export interface DemoRegistryConfig {
  role: typeof DEMO_REGISTRY_ID;
  id: typeof DEMO_REGISTRY_ID;
  port: number;
  /** The address it listens on (see DemoNodeConfig.host). Default 127.0.0.1. */
  host?: string;
  dir: string;
}

/** Where a node listens and registers. */
export function hostOf(cfg: { host?: string }): string {
  return cfg.host ?? '127.0.0.1';
}

/** An item in a cart: the demo's unit of data. */
export interface CartItem {
  sku: string;
  qty: number;
}

/** key → item id → item: a grow-only map, merged by union, so replicas converge in any order. */
export type Entries = Record<string, Record<string, CartItem>>;

export const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Validates an item; returns an error message naming the field, or undefined. */
export function itemError(v: unknown): string | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'body must be a JSON object { "sku": string, "qty": integer }';
  const o = v as Record<string, unknown>;
  if (typeof o.sku !== 'string' || o.sku.length < 1 || o.sku.length > 64) return 'sku must be a string of 1 to 64 characters';
  if (!Number.isInteger(o.qty) || (o.qty as number) < 1 || (o.qty as number) > 1000) return `qty must be an integer from 1 to 1000, got ${JSON.stringify(o.qty)}`;
  const extra = Object.keys(o).filter((k) => k !== 'sku' && k !== 'qty');
  if (extra.length) return `unknown field ${JSON.stringify(extra[0])} (accepted: sku, qty)`;
  return undefined;
}

/** The gateway's whole budget for one client request, retries included (its route's timeoutMs). */
export const DEMO_REQUEST_TIMEOUT_MS = 5000;

/** How long the gateway waits for one try at a web replica (its route's perTryTimeoutMs). */
export const DEMO_WEB_TRY_TIMEOUT_MS = 1000;

/**
 * When the load's client sends a request one gateway has not answered to the other gateway as
 * well (its `failover.hedgeAfterMs`, or twice that gateway's recent mean answer time if longer;
 * 10 % of requests at most, plus 10 a second): a paused
 * gateway otherwise holds half the requests until the client's probe finds it silent (about
 * 1.1–1.5 s), and a paused web node a third of a gateway's for a whole 1 s try. The gateways
 * do not hedge their tries at the web tier themselves (`hedgeAfterMs`): measured with 50 and
 * 300 ms on top of this, their hedges — marked as retries, so the web tier does not hedge their
 * db calls — made a paused db node's requests queue (p99 0.4–1.4 s against 61–98 ms without;
 * docs/benchmarks.md).
 */
export const DEMO_CLIENT_HEDGE_MS = 100;

/**
 * How long the load generator — a client that knows both gateways — waits for one gateway's
 * answer before it sends the request to the other: longer than a gateway's own try at a web
 * replica and its retry on another, so a gateway riding out a paused web node is not given up on.
 */
export const DEMO_GATEWAY_TRY_TIMEOUT_MS = 2500;

/**
 * Where a gateway's route limit starts: at AIMD's ceiling. AIMD grows a limit only while at
 * least half of it is in use, so a gateway starts open and closes on evidence of overload (an
 * upstream's 503/429, every try timed out). From 20 (the AIMD default), a gateway that was just
 * restarted, or one that had only seen light load, shed at its limit as soon as a paused web
 * node held a third of its requests for a second (36 and 79 in flight, 100 requests shed, at
 * 200 req/s over two gateways); from 200, at 1000 req/s a paused db node took one to 215 in
 * flight and it shed 39.
 */
export const DEMO_GATEWAY_INITIAL_LIMIT = 1000;

/**
 * The gateways' route to the web tier. Its AIMD limit comes down on what says overload — a web
 * node's 503/429, every try timed out, a request slower than its whole budget — and not on a
 * slow try that failed over: with a drop per request that outlasted one per-try timeout, a
 * single paused web node (hundreds of such requests within a second) took the limit to its
 * floor and the gateway shed 4–15 % of the load at 0.77× capacity (docs/benchmarks.md).
 */
export function demoGatewayRoute(): GatewayRoute {
  return { path: '/api', service: 'web', perTryTimeoutMs: DEMO_WEB_TRY_TIMEOUT_MS, timeoutMs: DEMO_REQUEST_TIMEOUT_MS, maxAttempts: 3, outlier: { consecutiveFailures: 3, baseEjectionMs: 1000, maxEjectionMs: 10_000 }, concurrencyLimit: { algorithm: 'aimd', timeoutMs: DEMO_REQUEST_TIMEOUT_MS, initialLimit: DEMO_GATEWAY_INITIAL_LIMIT } };
}

/**
 * What the demo's web and db nodes admit with (see createAdmission): a caller's expired
 * deadline is answered 504 before any work; the event-loop shedder's defaults; and an AIMD
 * concurrency limit whose drops are calls slower than the node's caller waits for one try
 * (web: the gateway's per-try timeout, starting at DEMO_WEB_INITIAL_LIMIT; db: the web tier's
 * `dbTimeoutMs`) — so the limit comes
 * down only when a node's own work outlasts its callers, and not on the latency noise of eight
 * processes sharing the machine's cores (a Gradient2 limit here shed a third of the requests at
 * 0.8× capacity: docs/benchmarks.md).
 */
export function demoAdmission(cfg: Pick<DemoNodeConfig, 'role' | 'dbTimeoutMs'>): { limit: { algorithm: 'aimd'; timeoutMs: number; initialLimit?: number }; shedder: Record<string, never> } {
  if (cfg.role === 'db') return { limit: { algorithm: 'aimd', timeoutMs: cfg.dbTimeoutMs }, shedder: {} };
  return { limit: { algorithm: 'aimd', timeoutMs: DEMO_WEB_TRY_TIMEOUT_MS, initialLimit: DEMO_WEB_INITIAL_LIMIT }, shedder: {} };
}

/**
 * Where a web node's limit starts. Like a gateway's, it grows only while half used, so from 20 a
 * lightly loaded web node stayed near 40 — and a paused db node, which holds the web tier's db
 * calls for up to 800 ms, filled it: 3 requests of 4000 failed 503 at 200 req/s with two faults
 * open at once (every gateway try shed).
 */
export const DEMO_WEB_INITIAL_LIMIT = 100;

/**
 * Another process's CPU time so far (user + system, µs), from /proc/<pid>/stat; undefined where
 * there is no /proc (not Linux) or the process is gone. utime and stime are in USER_HZ ticks,
 * 100 a second on every Linux ABI Node runs on.
 */
export function procCpuMicros(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After "pid (comm) ": state is field 3, utime 14, stime 15 (comm may hold spaces).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * 10_000 : undefined;
  } catch {
    return undefined;
  }
}

/** This process's CPU time so far (user + system, µs), as a node reports it in /status. */
export function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}
