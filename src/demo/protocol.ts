import type { HistoryResult } from '../metrics/history.js';

/**
 * What a demo node tells its supervisor, over Node's IPC channel (`process.send`). One module
 * both sides import, instead of lines on stdout matched with a regex.
 */
export type NodeMessage =
  /** The node restored, registered and serves; `info` is what its start reported (a db node: what it restored). */
  | { type: 'ready'; id: string; info: unknown }
  /** This web replica won the maintenance election with `fencingToken`. */
  | { type: 'elected'; id: string; fencingToken: number };

/** What the supervisor tells a node: set your clock this far off, drifting this much (0, 0: back to the system's). */
export interface SkewMessage {
  type: 'skew';
  offsetMs: number;
  driftPerSec: number;
}

export function isSkewMessage(value: unknown): value is SkewMessage {
  if (value === null || typeof value !== 'object') return false;
  const m = value as Record<string, unknown>;
  return m.type === 'skew' && Number.isFinite(m.offsetMs) && Number.isFinite(m.driftPerSec);
}

/** Sends `message` to the supervisor, if this process has one listening (a demo node started by hand has not). */
export function tellSupervisor(message: NodeMessage): void {
  if (typeof process.send === 'function' && process.connected) process.send(message);
}

/** Whether `value` is a NodeMessage (what arrives over IPC is only JSON). */
export function isNodeMessage(value: unknown): value is NodeMessage {
  if (value === null || typeof value !== 'object') return false;
  const m = value as Record<string, unknown>;
  if (typeof m.id !== 'string') return false;
  if (m.type === 'ready') return 'info' in m;
  if (m.type === 'elected') return Number.isSafeInteger(m.fencingToken) && (m.fencingToken as number) > 0;
  return false;
}

/** What the supervisor passes the load's client process in STEADFAST_DEMO_CLIENT. */
export interface DemoClientConfig {
  /** Every gateway's address (the client fails over between them), or a comparison's front. */
  urls: string | string[];
  ratePerSec: number;
  durationMs: number;
  warmUpMs: number;
  seed: number;
  carts: number;
  writeShare: number;
  /** How long a try waits for an answer before the next address gets it. */
  perTryTimeoutMs: number;
  /** A request a gateway has not answered after this long goes to the other gateway as well. */
  hedgeAfterMs: number;
  probe: { path: string; intervalMs: number; timeoutMs: number };
}

export const DEMO_CLIENT_ENV = 'STEADFAST_DEMO_CLIENT';

/** What the supervisor asks of the client. */
export type ToClient =
  /** A clock reading: the client answers at once with its own (the supervisor works out the offset). */
  | { type: 'ping'; t0: number }
  /** Warm up, then send the measured load. */
  | { type: 'go' }
  /** Read every cart that took a write back through `url`, and check the writes against the answers. */
  | { type: 'readBack'; url: string };

/** What the client tells the supervisor. Times are on the client's clock (systemClock). */
export type FromClient =
  | { type: 'hello' }
  | { type: 'pong'; t0: number; t1: number }
  /** The first measured request's slot. */
  | { type: 'started'; at: number }
  /**
   * Answers since the last batch, flat: [ok (1/0), latencyMs, at] per answer — what the
   * supervisor's availability tracker needs — and the running write totals.
   */
  | { type: 'results'; r: number[]; totals: { writes: number; acknowledged: number; degradedReads: number } }
  /** The load is done: what the client learned from it. */
  | { type: 'loaded'; load: ClientLoad }
  | { type: 'readBack'; history: HistoryResult }
  | { type: 'failed'; message: string };

/** What the load's client reports when its load is done. */
export interface ClientLoad {
  sent: number;
  durationMs: number;
  sendLagMs: { p50: number; p99: number; max: number };
  failover?: { retries: number; hedges: number; answeredBy: Record<string, number> };
  failures: { at: number; method: string; path: string; status: number | null; error: string | null; body: string | undefined }[];
  totals: { writes: number; acknowledged: number; degradedReads: number };
  overload: { served: number; shed: number; deadline: number };
  servedMs: { p50: number; p99: number };
}
