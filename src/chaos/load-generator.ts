import { nearestRank } from '../core/rank.js';
import type { Dispatcher } from 'undici';
import { undici } from '../core/packages.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkInteger, checkNumber, checkOptions, checkString } from '../core/options.js';
import { InvalidOptionError } from '../core/errors.js';
import { requestDeadline } from '../core/http.js';
import { RetryBudget } from '../policy/retry-budget.js';

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
   * `hedgeAfterMs` (idempotent methods): a request with no response headers after that long is
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

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * One address: down until (performance.now() ms; 0 = up), whether a probe is out, measured
 * answers, whether its last failure was a refused connection, and its tries in flight with when
 * each was sent (for the probe).
 */
/** One of a hedged request's two send()s: aborted by `cancel` when the other wins; `at` is the address it waits on now; `avoid`, one not to start on. */
type Hedge = { cancel: AbortSignal; at: number; avoid?: number };
type Target = { url: string; downUntil: number; probing: boolean; answered: number; refused: boolean; /** When the probe still unanswered was sent (0: none). */ probeSentAt: number; waiting: Map<AbortController, number> };

/** The reason a try is aborted when a probe finds its address down. */
class AddressDown extends Error {
  readonly code = 'ADDRESS_DOWN';
}

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
  private readonly perTryTimeoutMs: number;
  private readonly downMs: number;
  private readonly maxTries: number;
  private readonly probe: { path: string; intervalMs: number; timeoutMs: number } | undefined;
  private readonly hedgeAfterMs: number | undefined;
  private readonly hedgeBudget: RetryBudget | undefined;
  private hedges = 0;
  private readonly targets: Target[];
  private turn = 0;
  private failoverRetries = 0;
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
    this.targets = this.urls.map((url) => ({ url, downUntil: 0, probing: false, answered: 0, refused: false, probeSentAt: 0, waiting: new Map<AbortController, number>() }));
    const f = checkOptions<NonNullable<LoadGeneratorOptions['failover']>>(`${scope}.failover`, o.failover ?? {}, ['perTryTimeoutMs', 'downMs', 'maxTries', 'hedgeAfterMs', 'hedgeRatio', 'probe']);
    if (f.probe !== undefined) {
      const p = checkOptions<NonNullable<NonNullable<LoadGeneratorOptions['failover']>['probe']>>(`${scope}.failover.probe`, f.probe, ['path', 'intervalMs', 'timeoutMs']);
      const probePath = checkString(`${scope}.failover.probe`, 'path', p.path);
      if (!probePath.startsWith('/')) throw new InvalidOptionError(`${scope}.failover.probe: path must start with '/', got ${JSON.stringify(p.path)}`);
      this.probe = { path: probePath, intervalMs: checkInteger(`${scope}.failover.probe`, 'intervalMs', p.intervalMs ?? 100, { min: 10, max: 60_000 }), timeoutMs: checkInteger(`${scope}.failover.probe`, 'timeoutMs', p.timeoutMs ?? 500, { min: 1, max: 60_000 }) };
    }
    this.maxTries = checkInteger(`${scope}.failover`, 'maxTries', f.maxTries ?? this.urls.length + 1, { min: 1, max: 100 });
    this.perTryTimeoutMs = checkInteger(`${scope}.failover`, 'perTryTimeoutMs', f.perTryTimeoutMs ?? LOAD_GENERATOR_DEFAULTS.perTryTimeoutMs, { min: 1, max: 600_000 });
    this.downMs = checkInteger(`${scope}.failover`, 'downMs', f.downMs ?? LOAD_GENERATOR_DEFAULTS.downMs, { min: 0, max: 600_000 });
    if (f.hedgeAfterMs !== undefined) {
      this.hedgeAfterMs = checkInteger(`${scope}.failover`, 'hedgeAfterMs', f.hedgeAfterMs, { min: 1, max: 600_000 });
      const ratio = checkNumber(`${scope}.failover`, 'hedgeRatio', f.hedgeRatio ?? LOAD_GENERATOR_DEFAULTS.hedgeRatio, { min: 0, max: 1 });
      this.hedgeBudget = new RetryBudget(ratio, 10, performance.now());
    } else if (f.hedgeRatio !== undefined) throw new InvalidOptionError(`${scope}.failover: hedgeRatio needs hedgeAfterMs (when to hedge)`);
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
  }

  /** `result`: each measured answer. `started`: the first measured request falls due (after any warm-up); `at` is wall-clock ms. */
  on<K extends 'result' | 'started'>(name: K, listener: Listener<{ result: LoadResult; started: { at: number } }[K]>): Disposable {
    return this.events.on(name, listener);
  }

  stop(): void {
    this.stopped = true;
  }

  async run(): Promise<LoadSummary> {
    const stopProbes = this.targets.length > 1 && this.probe ? this.startProbes(this.probe) : () => {};
    try {
      return await this.runSchedule();
    } finally {
      stopProbes();
    }
  }

  /** Probes every address until stopped (see `failover.probe`). */
  private startProbes(p: { path: string; intervalMs: number; timeoutMs: number }): () => void {
    let stopped = false;
    const timers = new Set<NodeJS.Timeout>();
    // Their own connection per address: a probe must not wait behind the load for a pooled one.
    const probes = new (undici().Agent)({ connections: 1, keepAliveTimeout: Math.max(1000, p.intervalMs * 4) });
    for (const t of this.targets) {
      const once = async (): Promise<void> => {
        const sentAt = performance.now();
        t.probeSentAt = sentAt;
        let up = false;
        // On a timer of its own: undici's headersTimeout would end it after about a second.
        const deadline = requestDeadline(p.timeoutMs);
        try {
          const res = await undici().request(new URL(p.path, t.url), { method: 'GET', dispatcher: probes, signal: deadline.signal, headersTimeout: p.timeoutMs + 1000, bodyTimeout: p.timeoutMs + 1000 });
          await res.body.dump();
          up = true;
        } catch {
          // no answer in time: down
        } finally {
          deadline.clear();
          t.probeSentAt = 0;
        }
        if (stopped) return;
        if (up) {
          t.downUntil = 0;
          t.probing = false;
          t.refused = false;
        } else {
          t.downUntil = performance.now() + this.downMs;
          for (const [ac, since] of t.waiting) {
            if (since > sentAt) continue;
            ac.abort(new AddressDown(`${t.url} did not answer a probe within ${p.timeoutMs} ms`));
            t.waiting.delete(ac);
          }
        }
        const timer = setTimeout(() => {
          timers.delete(timer);
          void once();
        }, p.intervalMs);
        timers.add(timer);
      };
      void once();
    }
    return () => {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      void probes.destroy().catch(() => {});
    };
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
        const extra = this.targets.length > 1 ? failovers : undefined;
        try {
          const { statusCode, body, target } = await this.sendHedged(req, due, failovers);
          if (!warm) target.answered++;
          record({ scheduledAt, sendLagMs, latencyMs: performance.now() - due, ok: this.isSuccess(statusCode), status: statusCode, error: null, ...(req ? { request: req, body: body! } : {}), ...(extra ? { failovers: extra.n } : {}) }, warm);
        } catch (err) {
          record({ scheduledAt, sendLagMs, latencyMs: performance.now() - due, ok: false, status: null, error: (err as { code?: string }).code ?? (err as Error).message, ...(req ? { request: req } : {}), ...(extra ? { failovers: extra.n } : {}) }, warm);
        } finally {
          if (!warm) this.failoverRetries += failovers.n;
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
    const failover = this.targets.length > 1 ? { failover: { retries: this.failoverRetries, hedges: this.hedges, answeredBy: Object.fromEntries(this.targets.map((t) => [t.url, t.answered])) } } : {};
    return { sent, ok, failed, durationMs, achievedRatePerSec: durationMs > 0 ? sent / (durationMs / 1000) : 0, sendLagMs: { p50: at(50), p99: at(99), max: at(100) }, ...failover };
  }

  /**
   * The next address to try, among those not in `tried` (all of them once every one has been
   * tried): up ones in turn; else a down one whose time is up, as its one probe; else the one
   * that failed longest ago (the client has nowhere better to go).
   */
  private pick(tried: Set<number>): number {
    const n = this.targets.length;
    const now = performance.now();
    const all = tried.size >= n;
    let fallback = -1;
    // A suspect address gets no new tries while another that is up is not suspect.
    const shun = this.hedgeAfterMs !== undefined && this.targets.some((t) => t.downUntil === 0 && !this.suspect(t, now));
    let suspectUp = -1;
    for (let k = 0; k < n; k++) {
      const i = (this.turn + k) % n;
      if (!all && tried.has(i)) continue;
      const t = this.targets[i]!;
      if (t.downUntil === 0) {
        if (shun && this.suspect(t, now)) {
          if (suspectUp < 0) suspectUp = i;
          continue;
        }
        this.turn = (i + 1) % n;
        return i;
      }
      if (!t.probing && now >= t.downUntil) {
        t.probing = true;
        return i;
      }
      const f = fallback < 0 ? undefined : this.targets[fallback]!;
      if (!f || (f.refused && !t.refused) || (f.refused === t.refused && t.downUntil < f.downUntil)) fallback = i;
    }
    return suspectUp >= 0 ? suspectUp : fallback;
  }

  /** With a probe and hedgeAfterMs: the address's probe has gone unanswered for hedgeAfterMs. */
  private suspect(t: Target, now: number): boolean {
    return this.hedgeAfterMs !== undefined && t.probeSentAt > 0 && now - t.probeSentAt >= this.hedgeAfterMs;
  }

  /**
   * send(), and with `failover.hedgeAfterMs` a second send() to another address that is up when
   * the first has no answer after that long (idempotent methods, within the hedge budget): the
   * first to end with an answer wins and the other is aborted; it fails only if both fail.
   */
  private sendHedged(req: LoadRequest | undefined, due: number, failovers: { n: number }): Promise<{ statusCode: number; body: string | undefined; target: Target }> {
    const budget = this.hedgeBudget;
    if (budget === undefined || !IDEMPOTENT.has((req?.method ?? this.method).toUpperCase())) return this.send(req, due, failovers);
    budget.deposit();
    const cancels = [new AbortController(), new AbortController()];
    const first: Hedge = { cancel: cancels[0]!.signal, at: -1 };
    return new Promise((resolve, reject) => {
      let running = 1;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const end = (index: number, answer: Awaited<ReturnType<LoadGenerator['send']>> | undefined, err?: unknown): void => {
        if (settled) return;
        running--;
        if (answer === undefined && running > 0) return; // the other try may still answer
        settled = true;
        clearTimeout(timer);
        cancels[1 - index]!.abort(new Error('the other try answered first'));
        if (answer !== undefined) resolve(answer);
        else reject(err);
      };
      this.send(req, due, failovers, first).then((a) => end(0, a), (e: unknown) => end(0, undefined, e));
      const hedge = (): void => {
        if (settled) return;
        const now = performance.now();
        // Only to an address that is up, other than the one the first try waits on, and within
        // the budget; else ask again later. (Hedges past the budget away from a suspect address,
        // tried, fed a collapse at 0.8× capacity: a busy gateway's probe is slow too.)
        const others = this.targets.some((t, i) => i !== first.at && t.downUntil === 0);
        if (!others || !budget.withdraw(now)) {
          timer = setTimeout(hedge, this.hedgeAfterMs);
          return;
        }
        this.hedges++;
        running++;
        this.send(req, due, failovers, { cancel: cancels[1]!.signal, at: -1, avoid: first.at }).then((a) => end(1, a), (e: unknown) => end(1, undefined, e));
      };
      timer = setTimeout(hedge, this.hedgeAfterMs);
    });
  }

  /** Sends one request, over the addresses in turn when a try gets no answer (see `failover`). */
  private async send(req: LoadRequest | undefined, due: number, failovers: { n: number }, hedge?: Hedge): Promise<{ statusCode: number; body: string | undefined; target: Target }> {
    const method = (req?.method ?? this.method) as Dispatcher.HttpMethod;
    const single = this.targets.length === 1;
    const tried = new Set<number>(hedge?.avoid === undefined ? [] : [hedge.avoid]);
    for (let attempt = 1; ; attempt++) {
      const i = this.pick(tried);
      tried.add(i);
      if (hedge) hedge.at = i;
      const t = this.targets[i]!;
      const left = this.timeoutMs - (performance.now() - due);
      const wait = single ? this.timeoutMs : Math.max(1, Math.min(this.perTryTimeoutMs, left));
      let answered = false;
      // A probe that finds the address down aborts this try (only while no answer has begun).
      const ac = this.probe && !single ? new AbortController() : undefined;
      if (ac) t.waiting.set(ac, performance.now());
      // The try's wait for headers (the whole request when single), on its own timer: undici's
      // headersTimeout fires up to a second late. undici's timeouts stay as a backstop. A hedge
      // race's loser is aborted through `hedge.cancel`.
      const outer = ac && hedge ? AbortSignal.any([ac.signal, hedge.cancel]) : (ac?.signal ?? hedge?.cancel);
      const deadline = requestDeadline(wait, outer);
      try {
        const target = req ? new URL(req.path, t.url) : t.url;
        const res = await undici().request(target, { method, dispatcher: this.dispatcher, signal: deadline.signal, headersTimeout: wait + 1000, bodyTimeout: this.timeoutMs + 1000, ...(req?.headers ? { headers: req.headers } : {}), ...(req?.body !== undefined ? { body: req.body } : {}) });
        if (!single) deadline.clear();
        if (ac) t.waiting.delete(ac);
        answered = true;
        t.downUntil = 0;
        t.probing = false;
        t.refused = false;
        if (req) return { statusCode: res.statusCode, body: await res.body.text(), target: t };
        await res.body.dump();
        return { statusCode: res.statusCode, body: undefined, target: t };
      } catch (err) {
        if (ac) t.waiting.delete(ac);
        if (deadline.timedOut() && !answered) err = deadline.signal.reason;
        if (single || answered || hedge?.cancel.aborted) throw err;
        t.downUntil = performance.now() + this.downMs;
        t.probing = false;
        const code = (ac?.signal.aborted ? (ac.signal.reason as { code?: string } | undefined) : (err as { code?: string }))?.code;
        t.refused = code === 'ECONNREFUSED';
        const again = attempt < this.maxTries && performance.now() - due < this.timeoutMs && (IDEMPOTENT.has(method) || code === 'ECONNREFUSED');
        if (!again) throw err;
        failovers.n++;
      } finally {
        deadline.clear();
      }
    }
  }
}
