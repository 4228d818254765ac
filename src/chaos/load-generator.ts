import { nearestRank } from '../core/rank.js';
import type { Dispatcher } from 'undici';
import { undici } from '../core/packages.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkInteger, checkNumber, checkOptions, checkString } from '../core/options.js';
import { InvalidOptionError } from '../core/errors.js';
import { Addresses } from './addresses.js';

export interface LoadGeneratorOptions {
  /**
   * Where to send requests, e.g. http://127.0.0.1:8080/items. Several addresses of one service
   * (two gateways): the generator acts as a client that knows both — see `failover`.
   */
  url: string | string[];
  /**
   * With several urls: requests take turns over the addresses that are up. A try that gets no
   * answer — refused, reset, or no response headers within `perTryTimeoutMs` — is sent again to
   * the next address (idempotent methods only, unless the connection was refused: then the
   * request never left), within the request's `timeoutMs` and at most `maxTries` tries in all;
   * once every address has been tried, one that failed without refusing the connection (a
   * timeout or a reset: it may be slow, not gone) is tried again before one that refused, and
   * among those the one that failed longest ago. An
   * address whose try failed is down for `downMs`; then one request probes it, and it is up
   * again once that request is answered. Defaults: perTryTimeoutMs 2000, downMs 2000, maxTries
   * one more than the addresses.
   *
   * `probe` checks every address on its own, as a client with health checks does: a GET of
   * `path` every `intervalMs`; one that gets no answer (any status is one) within `timeoutMs`
   * marks the address down at once and sends the tries that were waiting on it when the probe
   * was sent to another address (idempotent ones: the others fail) — tries sent after it have
   * not waited as long as the probe, and are left to the next probe — so a stopped server holds
   * requests for about 2 × intervalMs + timeoutMs instead of perTryTimeoutMs. An answered probe
   * marks it up again.
   *
   * `hedgeAfterMs` (idempotent methods): a request with no response headers after that long —
   * and after twice its address's recent mean answer time (an exponentially weighted mean of its
   * answered tries), so past capacity requests are not hedged for being as slow as the rest — is
   * sent to another address that is up as well, and the first complete answer wins; the other
   * try is aborted, and its address is not marked down for it. Hedges are bounded by a budget of
   * `hedgeRatio` of the requests (default 0.1) plus 10 a second, as a gRPC client's hedging
   * policy is by its retry throttling; a request the budget refuses asks again every
   * hedgeAfterMs. With a `probe` as well, an address whose probe has gone unanswered for
   * hedgeAfterMs is suspect: while another address that is up is not, it gets no new tries — so
   * a stopped server holds only what was sent to it in those first hedgeAfterMs, which the
   * budget's hedges take elsewhere, instead of every try until the probe's timeout; when every
   * address is slow (overload), none is shunned. Default: no hedges.
   */
  failover?: { perTryTimeoutMs?: number; downMs?: number; maxTries?: number; hedgeAfterMs?: number; hedgeRatio?: number; probe?: { path: string; intervalMs?: number; timeoutMs?: number } };
  /** Requests per second, sent on schedule whatever the answers (open loop). */
  ratePerSec: number;
  durationMs: number;
  method?: string;
  /** A request without an answer after this long counts as failed. Default 2000. */
  timeoutMs?: number;
  /** Bound on requests in flight; past it, a scheduled request counts as failed. Default 1000. */
  maxInFlight?: number;
  /**
   * Connections the generator may open to the target. Default 256; past them, requests wait in
   * the client — an open-loop test of a server that queues needs as many as it keeps in flight.
   */
  connections?: number;
  /**
   * Which answers count as success. Default: 2xx — a 429 or a 404 is not "available". A scenario
   * that expects other statuses says so here.
   */
  isSuccess?: (status: number) => boolean;
  /**
   * A mix of requests instead of one URL: called for request `seq` (0, 1, …) when it falls due;
   * its path is resolved against `url`. The result carries it back, with the answer's body.
   */
  next?: (seq: number) => LoadRequest;
  /**
   * Requests sent at the same rate, on the same connections, before the measured ones: the
   * target's connections and JIT reach their steady state first. Their answers are awaited (the
   * measured schedule starts once the last is in, so no queue they built is measured) but
   * neither emitted nor counted. `next` gives them their own mix (for example their own keys);
   * without it they are the measured mix's first requests again.
   */
  warmUp?: { durationMs: number; next?: (seq: number) => LoadRequest };
}

export interface LoadRequest {
  method?: string;
  /** Path and query, resolved against the generator's url. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Anything the caller wants back with the result (e.g. the id of a write). */
  tag?: unknown;
}

export const LOAD_GENERATOR_DEFAULTS = Object.freeze({ timeoutMs: 2000, maxInFlight: 1000, connections: 256, perTryTimeoutMs: 2000, downMs: 2000, hedgeRatio: 0.1 });


export interface LoadResult {
  /** When the request was due (latency is measured from here: no coordinated omission). */
  scheduledAt: number;
  /** How late the generator sent it (0 when on schedule): a generator that falls behind shows here. */
  sendLagMs: number;
  latencyMs: number;
  ok: boolean;
  status: number | null;
  error: string | null;
  /** With `next`: the request sent, and the answer's body (text). */
  request?: LoadRequest;
  body?: string;
  /** With several urls: tries sent again to another address (0 when the first try was answered). */
  failovers?: number;
}

export interface LoadSummary {
  sent: number;
  ok: number;
  failed: number;
  durationMs: number;
  achievedRatePerSec: number;
  /**
   * How late requests left compared with their schedule: p50, p99 and max over every request.
   * `sent` counts requests the schedule made due; a generator that cannot keep up sends them
   * late, and only this shows it.
   */
  sendLagMs: { p50: number; p99: number; max: number };
  /**
   * With several urls: tries sent again to another address (after a failure), hedges (sent while
   * the first try still ran; with `failover.hedgeAfterMs`), and measured requests answered per address.
   */
  failover?: { retries: number; hedges: number; answeredBy: Record<string, number> };
}

/**
 * Open-loop HTTP load: request i is due at start + i / rate whether or not earlier ones have
 * answered, and its latency is measured from when it was due. A stalled server therefore
 * shows up as latency and failures, instead of quietly slowing the load down (Gil Tene's
 * coordinated omission).
 */
export class LoadGenerator {
  /** The first address (the only one without failover). */
  readonly url: string;
  readonly urls: readonly string[];
  readonly ratePerSec: number;
  readonly durationMs: number;
  private readonly method: string;
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private readonly isSuccess: (status: number) => boolean;
  private readonly next: ((seq: number) => LoadRequest) | undefined;
  private readonly events = new Emitter<{ result: LoadResult; started: { at: number } }>();
  private readonly dispatcher: Dispatcher;
  private readonly warmUp: { durationMs: number; next: ((seq: number) => LoadRequest) | undefined } | undefined;
  private readonly addresses: Addresses;
  private stopped = false;

  constructor(options: LoadGeneratorOptions) {
    const scope = 'LoadGenerator';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { url, ratePerSec, durationMs } are required`);
    const o = checkOptions<LoadGeneratorOptions>(scope, options, ['url', 'failover', 'ratePerSec', 'durationMs', 'method', 'timeoutMs', 'maxInFlight', 'connections', 'isSuccess', 'next', 'warmUp']);
    const urls = Array.isArray(o.url) ? o.url : [o.url];
    if (urls.length === 0 || urls.length > 16) throw new InvalidOptionError(`${scope}: url must be a URL or a list of 1 to 16 URLs, got ${urls.length}`);
    this.urls = urls.map((u, i) => {
      const url = checkString(scope, Array.isArray(o.url) ? `url[${i}]` : 'url', u);
      if (!/^https?:\/\//.test(url)) throw new InvalidOptionError(`${scope}: url must be http:// or https://, got ${JSON.stringify(u)}`);
      return url;
    });
    this.url = this.urls[0]!;
    const f = checkOptions<NonNullable<LoadGeneratorOptions['failover']>>(`${scope}.failover`, o.failover ?? {}, ['perTryTimeoutMs', 'downMs', 'maxTries', 'hedgeAfterMs', 'hedgeRatio', 'probe']);
    let probe: { path: string; intervalMs: number; timeoutMs: number } | undefined;
    if (f.probe !== undefined) {
      const p = checkOptions<NonNullable<NonNullable<LoadGeneratorOptions['failover']>['probe']>>(`${scope}.failover.probe`, f.probe, ['path', 'intervalMs', 'timeoutMs']);
      const probePath = checkString(`${scope}.failover.probe`, 'path', p.path);
      if (!probePath.startsWith('/')) throw new InvalidOptionError(`${scope}.failover.probe: path must start with '/', got ${JSON.stringify(p.path)}`);
      probe = { path: probePath, intervalMs: checkInteger(`${scope}.failover.probe`, 'intervalMs', p.intervalMs ?? 100, { min: 10, max: 60_000 }), timeoutMs: checkInteger(`${scope}.failover.probe`, 'timeoutMs', p.timeoutMs ?? 500, { min: 1, max: 60_000 }) };
    }
    const maxTries = checkInteger(`${scope}.failover`, 'maxTries', f.maxTries ?? this.urls.length + 1, { min: 1, max: 100 });
    const perTryTimeoutMs = checkInteger(`${scope}.failover`, 'perTryTimeoutMs', f.perTryTimeoutMs ?? LOAD_GENERATOR_DEFAULTS.perTryTimeoutMs, { min: 1, max: 600_000 });
    const downMs = checkInteger(`${scope}.failover`, 'downMs', f.downMs ?? LOAD_GENERATOR_DEFAULTS.downMs, { min: 0, max: 600_000 });
    if (f.hedgeAfterMs === undefined && f.hedgeRatio !== undefined) throw new InvalidOptionError(`${scope}.failover: hedgeRatio needs hedgeAfterMs (when to hedge)`);
    const hedgeAfterMs = f.hedgeAfterMs === undefined ? undefined : checkInteger(`${scope}.failover`, 'hedgeAfterMs', f.hedgeAfterMs, { min: 1, max: 600_000 });
    const hedgeRatio = checkNumber(`${scope}.failover`, 'hedgeRatio', f.hedgeRatio ?? LOAD_GENERATOR_DEFAULTS.hedgeRatio, { min: 0, max: 1 });
    this.ratePerSec = checkNumber(scope, 'ratePerSec', o.ratePerSec, { min: 0, minExclusive: true, max: 100_000 });
    this.durationMs = checkInteger(scope, 'durationMs', o.durationMs, { min: 1 });
    this.method = o.method ?? 'GET';
    this.timeoutMs = checkInteger(scope, 'timeoutMs', o.timeoutMs ?? LOAD_GENERATOR_DEFAULTS.timeoutMs, { min: 1 });
    this.maxInFlight = checkInteger(scope, 'maxInFlight', o.maxInFlight ?? LOAD_GENERATOR_DEFAULTS.maxInFlight, { min: 1 });
    this.isSuccess = o.isSuccess ?? ((s) => s >= 200 && s < 300);
    if (o.next !== undefined && typeof o.next !== 'function') throw new InvalidOptionError(`${scope}: next must be a function (seq) => { path, method?, body? }`);
    this.next = o.next;
    if (o.warmUp !== undefined) {
      const w = checkOptions<NonNullable<LoadGeneratorOptions['warmUp']>>(`${scope}.warmUp`, o.warmUp, ['durationMs', 'next']);
      if (w.next !== undefined && typeof w.next !== 'function') throw new InvalidOptionError(`${scope}: warmUp.next must be a function (seq) => { path, method?, body? }`);
      this.warmUp = { durationMs: checkInteger(`${scope}.warmUp`, 'durationMs', w.durationMs, { min: 0, max: 3_600_000 }), next: w.next ?? this.next };
    }
    const connections = checkInteger(scope, 'connections', o.connections ?? LOAD_GENERATOR_DEFAULTS.connections, { min: 1, max: 65_536 });
    this.dispatcher = new (undici().Agent)({ connections, keepAliveTimeout: 4000 });
    this.addresses = new Addresses({ urls: this.urls, method: this.method, timeoutMs: this.timeoutMs, perTryTimeoutMs, downMs, maxTries, probe, hedgeAfterMs, hedgeRatio, dispatcher: this.dispatcher });
  }

  /** `result`: each measured answer. `started`: the first measured request falls due (after any warm-up); `at` is wall-clock ms. */
  on<K extends 'result' | 'started'>(name: K, listener: Listener<{ result: LoadResult; started: { at: number } }[K]>): Disposable {
    return this.events.on(name, listener);
  }

  stop(): void {
    this.stopped = true;
  }

  async run(): Promise<LoadSummary> {
    const stopProbes = this.addresses.startProbes();
    try {
      return await this.runSchedule();
    } finally {
      stopProbes();
    }
  }

  private async runSchedule(): Promise<LoadSummary> {
    const interval = 1000 / this.ratePerSec;
    const warmTotal = this.warmUp ? Math.floor((this.warmUp.durationMs / 1000) * this.ratePerSec) : 0;
    // Slot i of the warm-up is due at t0 + i × interval; measured request j at start + j × interval.
    const t0 = performance.now();
    let start = t0;
    // The time of performance.now() == 0 on systemClock's scale (what ProcessChaos and the
    // tracker stamp faults with): Date.now() drifts from it by tens of ms in a long-lived process.
    const epoch = performance.timeOrigin;
    const total = Math.floor((this.durationMs / 1000) * this.ratePerSec);
    let slot = 0;
    let sent = 0;
    let ok = 0;
    let failed = 0;
    let inFlight = 0;
    const pending = new Set<Promise<void>>();
    const lags = new Float64Array(total);
    const record = (r: LoadResult, warm: boolean): void => {
      if (warm) return;
      if (r.ok) ok++;
      else failed++;
      this.events.emit('result', r);
    };
    const fire = (due: number): void => {
      const warm = slot++ < warmTotal;
      if (!warm && sent === 0) this.events.emit('started', { at: epoch + due });
      const seq = warm ? slot - 1 : sent++;
      const scheduledAt = epoch + due;
      const sendLagMs = Math.max(0, performance.now() - due);
      if (!warm) lags[seq] = sendLagMs;
      const req = warm ? this.warmUp!.next?.(seq) : this.next?.(seq);
      if (inFlight >= this.maxInFlight) {
        record({ scheduledAt, sendLagMs, latencyMs: 0, ok: false, status: null, error: `more than maxInFlight=${this.maxInFlight} requests in flight`, ...(req ? { request: req } : {}) }, warm);
        return;
      }
      inFlight++;
      const p = (async () => {
        const failovers = { n: 0 };
        const extra = this.urls.length > 1 ? failovers : undefined;
        try {
          const { statusCode, body, target } = await this.addresses.send(req, due, failovers);
          if (!warm) target.answered++;
          record({ scheduledAt, sendLagMs, latencyMs: performance.now() - due, ok: this.isSuccess(statusCode), status: statusCode, error: null, ...(req ? { request: req, body: body! } : {}), ...(extra ? { failovers: extra.n } : {}) }, warm);
        } catch (err) {
          record({ scheduledAt, sendLagMs, latencyMs: performance.now() - due, ok: false, status: null, error: (err as { code?: string }).code ?? (err as Error).message, ...(req ? { request: req } : {}), ...(extra ? { failovers: extra.n } : {}) }, warm);
        } finally {
          if (!warm) this.addresses.failoverRetries += failovers.n;
          inFlight--;
        }
      })();
      pending.add(p);
      void p.finally(() => pending.delete(p));
    };
    const schedule = async (origin: number, first: number, end: number): Promise<void> => {
      while (slot < end && !this.stopped) {
        // Fire every request that has fallen due (the schedule does not slip), then yield to the
        // event loop — always, so answers are read even when requests are due every few µs.
        const now = performance.now();
        while (slot < end && origin + (slot - first) * interval <= now) fire(origin + (slot - first) * interval);
        const wait = origin + (slot - first) * interval - performance.now();
        await new Promise((r) => setTimeout(r, Math.max(0, wait)));
      }
    };
    if (warmTotal > 0) {
      await schedule(t0, 0, warmTotal);
      // The warm-up's answers come in before the measured schedule begins, so the run does not
      // start behind a queue the warm-up left (a cold target queues for its first seconds).
      await Promise.all(pending);
      start = performance.now();
    }
    await schedule(start, warmTotal, warmTotal + total);
    await Promise.all(pending);
    await this.dispatcher.close();
    // From the first measured request's slot (a run stopped during its warm-up measured nothing).
    const durationMs = Math.max(0, performance.now() - start);
    const sorted = lags.subarray(0, sent).sort();
    const at = (p: number): number => nearestRank(sorted, p);
    const failover = this.addresses.summary();
    return { sent, ok, failed, durationMs, achievedRatePerSec: durationMs > 0 ? sent / (durationMs / 1000) : 0, sendLagMs: { p50: at(50), p99: at(99), max: at(100) }, ...(failover ? { failover } : {}) };
  }

}
