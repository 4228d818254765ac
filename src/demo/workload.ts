import type { LoadRequest, LoadResult } from '../chaos/load-generator.js';
import { nearestRank } from '../core/rank.js';
import { seededRandom } from '../core/random.js';
import type { AvailabilityTracker } from '../metrics/availability.js';
import { HistoryChecker } from '../metrics/history.js';
import type { DemoResult } from './views.js';

/** Served latencies kept for the served p99 (8 bytes each). */
const MAX_SERVED = 2_000_000;

type Tag = { cart: string; write?: { id: string; done: ReturnType<HistoryChecker['invoke']> } };

/**
 * The demo's load and what it learns from the answers: a seeded mix of cart reads and item
 * writes; every answer goes to the AvailabilityTracker, every write to a HistoryChecker (settled
 * when every cart is read back), the first failures kept for the report.
 */
export class CartWorkload {
  readonly history = new HistoryChecker();
  /** Carts that got at least one write: the ones read back at the end. */
  readonly carts = new Set<string>();
  /** The first 100 failed requests. */
  readonly failures: DemoResult['failures'] = [];
  /** Demo-specific counts (requests, failures and latencies are the tracker's). */
  readonly totals = { writes: 0, acknowledged: 0, degradedReads: 0 };
  /** Overload as the clients saw it: 2xx answers, sheds (503/429: failures, they are), deadlines (504). */
  readonly overload = { served: 0, shed: 0, deadline: 0 };
  /** Latencies of 2xx answers only (the served p99), the last MAX_SERVED of them. */
  private readonly servedMs = new Float64Array(MAX_SERVED);
  private readonly random: () => number;

  /** `cartPrefix` (default `c`) names the carts: the warm-up uses its own, so its writes are never read back. */
  constructor(private readonly o: { seed: number; carts: number; writeShare: number; cartPrefix?: string }) {
    this.random = seededRandom(o.seed);
  }

  /** The load generator's `next`: request number `seq` of the mix. */
  next(seq: number): LoadRequest {
    const random = this.random;
    const cart = `${this.o.cartPrefix ?? 'c'}${Math.floor(random() * this.o.carts)}`;
    if (random() < this.o.writeShare) {
      const id = `w${seq}`;
      this.carts.add(cart);
      const body = JSON.stringify({ sku: `sku-${Math.floor(random() * 1000)}`, qty: 1 + Math.floor(random() * 5) });
      return { method: 'PUT', path: `/api/carts/${cart}/items/${id}`, headers: { 'content-type': 'application/json' }, body, tag: { cart, write: { id, done: this.history.invoke(id) } } satisfies Tag };
    }
    return { method: 'GET', path: `/api/carts/${cart}`, tag: { cart } satisfies Tag };
  }

  /** p50 and p99 (nearest rank) of the 2xx answers' latencies. */
  servedLatency(): { p50: number; p99: number } {
    const xs = this.servedMs.slice(0, Math.min(this.overload.served, MAX_SERVED)).sort();
    return { p50: nearestRank(xs, 50), p99: nearestRank(xs, 99) };
  }

  /** One answer: the tracker's availability and latency, the write history, the degraded-read count. */
  record(r: LoadResult, tracker: Pick<AvailabilityTracker, 'recordRequest'>): void {
    const at = r.scheduledAt + r.latencyMs;
    tracker.recordRequest(r.ok, r.latencyMs, at);
    if (r.ok) this.servedMs[this.overload.served++ % MAX_SERVED] = r.latencyMs;
    else if (r.status === 503 || r.status === 429) this.overload.shed++;
    else if (r.status === 504) this.overload.deadline++;
    if (!r.ok && this.failures.length < 100) this.failures.push({ at, method: r.request?.method ?? 'GET', path: r.request?.path ?? '', status: r.status, error: r.error, body: r.body?.slice(0, 300) });
    if (r.ok && r.request?.method === 'GET' && r.body !== undefined && r.body.includes('"complete":false')) this.totals.degradedReads++;
    const w = (r.request?.tag as Tag | undefined)?.write;
    if (!w) return;
    this.totals.writes++;
    if (r.status !== null && r.status >= 200 && r.status < 300) {
      w.done.ok(at);
      this.totals.acknowledged++;
    } else if (r.status !== null && r.status >= 400 && r.status < 500) w.done.fail(at);
    else w.done.info(at);
  }
}
