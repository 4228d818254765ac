import type { Dispatcher } from 'undici';
import { undici } from '../core/packages.js';
import { requestDeadline, type RequestDeadline } from '../core/http.js';
import { bufferedRequest } from '../core/buffered-request.js';
import { RetryBudget } from '../policy/retry-budget.js';
import type { LoadRequest } from './load-generator.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * Answers that say this address could not serve the request, rather than what the request is
 * worth: a gateway with no upstream it can reach (cut off on the minority side of a partition),
 * or one shedding. With another address to try, an idempotent request is sent there — within a
 * budget of 10 % of requests plus 10 a second, so that past capacity, when every address sheds,
 * the client does not double the load — and the address rests for `downMs`.
 */
const ADDRESS_FAILED = new Set([502, 503, 504]);

/**
 * One of a hedged request's two send()s: `at` is the address it waits on now, `sentAt` when its
 * try there began and `current` that try's deadline; `avoid`, an address not to start on.
 * `cancelled` (the other send() answered first) ends the try in flight and starts no other.
 */
type Hedge = { at: number; sentAt: number; current: RequestDeadline | undefined; cancelled: Error | undefined; avoid?: number };

/** Ends a hedged send() that lost: its try in flight is aborted, and it starts no other. */
function cancelHedge(h: Hedge, reason: Error): void {
  h.cancelled = reason;
  h.current?.abort(reason);
}

/**
 * A hedge waits at least this many times the address's recent mean answer time (and at least
 * hedgeAfterMs): a request is hedged when it is slow for that address now, not merely slower
 * than a fixed delay — past capacity every answer is slower than hedgeAfterMs, and hedging them
 * all adds load where there is none to spare (as Finagle's backup requests wait for a latency
 * percentile). A stopped address answers nothing, so its mean stays what it was before it stopped.
 */
const HEDGE_LATENCY_MULTIPLE = 2;
/** Weight of one answer in an address's mean answer time (an exponentially weighted mean). */
const LATENCY_WEIGHT = 0.02;

/**
 * One address: down until (performance.now() ms; 0 = up), whether a probe is out, measured
 * answers, whether its last failure was a refused connection, and its tries in flight with when
 * each was sent (for the probe).
 */
export type Target = { url: string; downUntil: number; probing: boolean; answered: number; refused: boolean; /** When the probe still unanswered was sent (0: none). */ probeSentAt: number; waiting: Map<RequestDeadline, number>; /** Mean time from a try's start to its answer, ms (exponentially weighted; 0 before the first). */ meanAnswerMs: number };

/** The reason a try is aborted when a probe finds its address down. */
class AddressDown extends Error {
  readonly code = 'ADDRESS_DOWN';
}

/** An answered request: its status, its body (text, with a LoadRequest), and the address that answered. */
export type Answer = { statusCode: number; body: string | undefined; target: Target };

/** What the addresses are sent with: LoadGenerator's options, checked. */
export interface AddressesConfig {
  urls: readonly string[];
  method: string;
  timeoutMs: number;
  perTryTimeoutMs: number;
  downMs: number;
  maxTries: number;
  probe: { path: string; intervalMs: number; timeoutMs: number } | undefined;
  hedgeAfterMs: number | undefined;
  hedgeRatio: number;
  dispatcher: Dispatcher;
}

/**
 * The client side of LoadGenerator: sends one request to the one address it has, or over several
 * as a client that knows them all — in turns, failing over, probing, hedging (LoadGenerator's
 * `failover` option says how) — and counts what that took.
 */
export class Addresses {
  readonly targets: Target[];
  /** Tries sent again to another address after a failure (LoadGenerator counts the measured requests'), and hedges sent (warm-up included). */
  failoverRetries = 0;
  hedges = 0;
  private turn = 0;
  private readonly hedgeBudget: RetryBudget | undefined;
  /** Requests answered 502/503/504 by one address and sent to another (see ADDRESS_FAILED), within statusBudget. */
  statusRetries = 0;
  private readonly statusBudget = new RetryBudget(0.1, 10, performance.now());

  constructor(private readonly o: AddressesConfig) {
    this.targets = o.urls.map((url) => ({ url, downUntil: 0, probing: false, answered: 0, refused: false, probeSentAt: 0, waiting: new Map<RequestDeadline, number>(), meanAnswerMs: 0 }));
    if (o.hedgeAfterMs !== undefined) this.hedgeBudget = new RetryBudget(o.hedgeRatio, 10, performance.now());
  }

  /** With several addresses: what failing over took, and the measured requests each answered. */
  summary(): { retries: number; hedges: number; answeredBy: Record<string, number> } | undefined {
    if (this.targets.length < 2) return undefined;
    return { retries: this.failoverRetries, hedges: this.hedges, answeredBy: Object.fromEntries(this.targets.map((t) => [t.url, t.answered])) };
  }

  /** Probes every address until stopped (see `failover.probe`); nothing with one address or no probe. Returns the stop. */
  startProbes(): () => void {
    const p = this.o.probe;
    if (this.targets.length < 2 || p === undefined) return () => {};
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
          t.downUntil = performance.now() + this.o.downMs;
          for (const [d, since] of t.waiting) {
            if (since > sentAt) continue;
            d.abort(new AddressDown(`${t.url} did not answer a probe within ${p.timeoutMs} ms`));
            t.waiting.delete(d);
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
    const shun = this.o.hedgeAfterMs !== undefined && this.targets.some((t) => t.downUntil === 0 && !this.suspect(t, now));
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
    return this.o.hedgeAfterMs !== undefined && t.probeSentAt > 0 && now - t.probeSentAt >= this.o.hedgeAfterMs;
  }

  /**
   * Sends one request (see sendTries), and with `failover.hedgeAfterMs` a second sendTries() to another address that is up when
   * the first has no answer after that long (idempotent methods, within the hedge budget): the
   * first to end with an answer wins and the other is aborted; it fails only if both fail.
   */
  send(req: LoadRequest | undefined, due: number, failovers: { n: number }): Promise<Answer> {
    if (this.targets.length > 1) this.statusBudget.deposit();
    const budget = this.hedgeBudget;
    if (budget === undefined || !IDEMPOTENT.has((req?.method ?? this.o.method).toUpperCase())) return this.sendTries(req, due, failovers);
    budget.deposit();
    // One deadline per try is all a hedged request allocates: no controllers or signals of its own.
    const tries: Hedge[] = [{ at: -1, sentAt: performance.now(), current: undefined, cancelled: undefined }];
    const first = tries[0]!;
    return new Promise((resolve, reject) => {
      let running = 1;
      let hedged = false;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const end = (index: number, answer: Answer | undefined, err?: unknown): void => {
        if (settled) return;
        running--;
        if (answer === undefined && running > 0) return; // the other try may still answer
        settled = true;
        clearTimeout(timer);
        // Only a try that was started is aborted (an abort makes an Error and a signal per request).
        if (index === 1 || hedged) cancelHedge(tries[1 - index]!, new Error('the other try answered first'));
        if (answer !== undefined) resolve(answer);
        else reject(err);
      };
      this.sendTries(req, due, failovers, first).then((a) => end(0, a), (e: unknown) => end(0, undefined, e));
      const hedge = (): void => {
        if (settled) return;
        const now = performance.now();
        // Not before the try is slow for its address now (see HEDGE_LATENCY_MULTIPLE).
        const slowAfter = HEDGE_LATENCY_MULTIPLE * (this.targets[first.at]?.meanAnswerMs ?? 0) - (now - first.sentAt);
        if (slowAfter > 1) {
          timer = setTimeout(hedge, slowAfter);
          return;
        }
        // Only to an address that is up, other than the one the first try waits on, and within
        // the budget; else ask again later. (Hedges past the budget away from a suspect address,
        // tried, fed a collapse at 0.8× capacity: a busy gateway's probe is slow too.)
        const others = this.targets.some((t, i) => i !== first.at && t.downUntil === 0);
        if (!others || !budget.withdraw(now)) {
          timer = setTimeout(hedge, this.o.hedgeAfterMs);
          return;
        }
        this.hedges++;
        hedged = true;
        running++;
        const second: Hedge = { at: -1, sentAt: now, current: undefined, cancelled: undefined, avoid: first.at };
        tries.push(second);
        this.sendTries(req, due, failovers, second).then((a) => end(1, a), (e: unknown) => end(1, undefined, e));
      };
      timer = setTimeout(hedge, this.o.hedgeAfterMs);
    });
  }

  /** Sends one request, over the addresses in turn when a try gets no answer (see `failover`). */
  private async sendTries(req: LoadRequest | undefined, due: number, failovers: { n: number }, hedge?: Hedge): Promise<Answer> {
    const method = (req?.method ?? this.o.method) as Dispatcher.HttpMethod;
    const single = this.targets.length === 1;
    const tried = new Set<number>(hedge?.avoid === undefined ? [] : [hedge.avoid]);
    for (let attempt = 1; ; attempt++) {
      const i = this.pick(tried);
      tried.add(i);
      const sentAt = performance.now();
      if (hedge) {
        hedge.at = i;
        hedge.sentAt = sentAt;
      }
      const t = this.targets[i]!;
      const left = this.o.timeoutMs - (performance.now() - due);
      const wait = single ? this.o.timeoutMs : Math.max(1, Math.min(this.o.perTryTimeoutMs, left));
      let answered = false;
      // The try's wait for headers (the whole request when single), on its own timer: undici's
      // headersTimeout fires up to a second late. undici's timeouts stay as a backstop. The same
      // deadline is what a probe that finds the address down (while no answer has begun) and a
      // hedge race's win by the other try abort.
      if (hedge?.cancelled) throw hedge.cancelled;
      const deadline = requestDeadline(wait);
      const probed = this.o.probe !== undefined && !single;
      if (probed) t.waiting.set(deadline, sentAt);
      if (hedge) hedge.current = deadline;
      try {
        const target = new URL(req ? req.path : '', t.url);
        // The answer gathered whole (bufferedRequest): its headers and body come in one piece, so
        // "answered" and "read" are the same moment here.
        const res = await bufferedRequest(this.o.dispatcher, { origin: target.origin, path: target.pathname + target.search, method, signal: deadline.signal, headersTimeout: wait + 1000, bodyTimeout: this.o.timeoutMs + 1000, headers: req?.headers, body: req?.body });
        answered = true;
        const took = performance.now() - sentAt;
        t.meanAnswerMs = t.meanAnswerMs === 0 ? took : t.meanAnswerMs + LATENCY_WEIGHT * (took - t.meanAnswerMs);
        t.probing = false;
        t.refused = false;
        const now = performance.now();
        if (!single && !hedge?.cancelled && ADDRESS_FAILED.has(res.statusCode) && IDEMPOTENT.has(method) && attempt < this.o.maxTries && now - due < this.o.timeoutMs && this.targets.some((x, k) => k !== i && x.downUntil === 0) && this.statusBudget.withdraw(now)) {
          // This address could not serve it; another that is up may (see ADDRESS_FAILED).
          t.downUntil = now + this.o.downMs;
          failovers.n++;
          this.statusRetries++;
          continue;
        }
        t.downUntil = 0;
        return { statusCode: res.statusCode, body: req ? res.body.toString() : undefined, target: t };
      } catch (err) {
        // Ended by our deadline (its timer, a probe, the other try's win): that says why.
        if (deadline.signal.aborted && !answered) err = deadline.signal.reason;
        if (single || answered || hedge?.cancelled) throw err;
        t.downUntil = performance.now() + this.o.downMs;
        t.probing = false;
        const code = (err as { code?: string } | undefined)?.code;
        t.refused = code === 'ECONNREFUSED';
        const again = attempt < this.o.maxTries && performance.now() - due < this.o.timeoutMs && (IDEMPOTENT.has(method) || code === 'ECONNREFUSED');
        if (!again) throw err;
        failovers.n++;
      } finally {
        deadline.clear();
        if (probed) t.waiting.delete(deadline);
        if (hedge) hedge.current = undefined;
      }
    }
  }
}
