import type { Readable } from 'node:stream';
import { nodeStream } from '../core/builtins.js';
import type { Dispatcher } from 'undici';
import { undici } from '../core/packages.js';
import { systemClock, type Clock } from '../core/clock.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkInteger, checkNumber, checkOptions } from '../core/options.js';
import { DeadlineWheel } from '../policy/deadline-wheel.js';
import { RETRY_STATUS, withDeadline, type FailoverRequest, type FailoverResponse } from './attempt.js';
import { runAttempts, type Dispatch, type FailoverEvents, type LoopContext } from './attempt-loop.js';
import type { Balancer, Endpoint } from './balancer.js';
import { proxyAttempt, type ProxySink, type QueueState } from './proxy-attempt.js';
import { requestAttempt, type RequestAnswer } from './request-attempt.js';
import { RetryBudget } from '../policy/retry-budget.js';
import { InvalidOptionError } from '../core/errors.js';

export type { ProxySink } from './proxy-attempt.js';
export { DEADLINE_HEADER, deadlineOf, RETRY_HEADER, retriedOf, RETRY_STATUS, UpstreamUnavailableError, type AttemptRecord, type FailoverRequest, type FailoverResponse } from './attempt.js';
export type { FailoverEvents } from './attempt-loop.js';
export { RetryBudget } from '../policy/retry-budget.js';

export interface RetryBudgetOptions {
  /** Retries may add at most this share of extra load. Default 0.2 (Finagle's and Envoy's 20 %). */
  ratio?: number;
  /** …but at least this many retries per second are always allowed. Default 10. */
  minPerSec?: number;
}

export interface FailoverClientOptions {
  balancer: Balancer;
  /** One attempt may wait this long for response headers. Default 1000. */
  perTryTimeoutMs?: number;
  /** The whole request, all attempts included. Default 10 000. */
  timeoutMs?: number;
  /** Attempts in all, the first included (bounded by the endpoints there are). Default 3. */
  maxAttempts?: number;
  /**
   * Answers an idempotent request is tried elsewhere on (within maxAttempts and the retry
   * budget). Default [500, 502, 503, 504]; add 429 for upstreams that rate-limit per instance.
   */
  retryOn?: readonly number[];
  retryBudget?: RetryBudgetOptions;
  /**
   * request() and proxy(), idempotent requests only: when no answer (response headers) came
   * after this long, send a hedge to the next endpoint as well; each hedge takes a token from
   * the retry budget. proxy() passes on the first answer whose headers arrive and cancels the
   * other attempts. Default: no hedges.
   */
  hedgeAfterMs?: number;
  /** Largest response body `request()` buffers. Default 16 MiB. */
  maxResponseBytes?: number;
  /** proxy(): a response body that sends nothing for this long fails the attempt. Default 5000. */
  bodyTimeoutMs?: number;
  /**
   * proxy(): requests that may wait inside this client for a free connection (every one to the
   * upstream busy); past it a request is refused at once as overloaded. Default 4096.
   */
  maxQueued?: number;
  /** Connections per upstream of the client's own dispatcher. Default 128. */
  connections?: number;
  dispatcher?: Dispatcher;
  clock?: Clock;
}

export const FAILOVER_CLIENT_DEFAULTS = Object.freeze({
  perTryTimeoutMs: 1000,
  timeoutMs: 10_000,
  maxAttempts: 3,
  retryRatio: 0.2,
  retryMinPerSec: 10,
  maxResponseBytes: 16 * 1024 * 1024,
  bodyTimeoutMs: 5000,
  maxQueued: 4096,
  connections: 128,
});

/**
 * An HTTP client that fails over: a connection error, a reset, a timeout or a 5xx from one
 * endpoint sends an idempotent request to the next one in the balancer's preference list. A retry
 * budget (retries ≤ 20 % of requests, plus a small floor) keeps a sick cluster from being buried
 * in retries; per-try and overall deadlines bound the wait. Built on undici.
 */
export class FailoverClient {
  readonly perTryTimeoutMs: number;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  private readonly hedgeAfterMs: number | undefined;
  private readonly maxResponseBytes: number;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly clock: Clock;
  private readonly events = new Emitter<FailoverEvents>();
  private readonly counts = { requests: 0, attempts: 0, retries: 0, hedges: 0, budgetExhausted: 0, failures: 0, markedRetries: 0 };
  readonly retryOn: ReadonlySet<number>;
  /** What the attempt loop shares across requests. */
  private readonly loop: LoopContext;
  /** Per-try deadlines of proxy() attempts. */
  private readonly wheel: DeadlineWheel;
  /** Queue-wait deadlines (the whole timeoutMs) of first proxy() attempts. */
  private readonly queueWheel: DeadlineWheel;
  private readonly queue: QueueState;
  readonly bodyTimeoutMs: number;

  constructor(options: FailoverClientOptions) {
    const scope = 'createFailoverClient';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { balancer } are required`);
    const o = checkOptions<FailoverClientOptions>(scope, options, [
      'balancer', 'perTryTimeoutMs', 'timeoutMs', 'maxAttempts', 'retryOn', 'retryBudget', 'hedgeAfterMs', 'maxResponseBytes', 'bodyTimeoutMs', 'maxQueued', 'connections', 'dispatcher', 'clock',
    ]);
    if (!o.balancer || typeof (o.balancer as Balancer).preferenceList !== 'function') throw new InvalidOptionError(`${scope}: balancer must be a Balancer`);
    const d = FAILOVER_CLIENT_DEFAULTS;
    this.perTryTimeoutMs = checkInteger(scope, 'perTryTimeoutMs', o.perTryTimeoutMs ?? d.perTryTimeoutMs, { min: 1 });
    this.timeoutMs = checkInteger(scope, 'timeoutMs', o.timeoutMs ?? d.timeoutMs, { min: 1 });
    this.maxAttempts = checkInteger(scope, 'maxAttempts', o.maxAttempts ?? d.maxAttempts, { min: 1, max: 100 });
    this.retryOn = o.retryOn === undefined ? RETRY_STATUS : checkStatuses(scope, 'retryOn', o.retryOn);
    const rb = checkOptions<RetryBudgetOptions>(`${scope}.retryBudget`, o.retryBudget, ['ratio', 'minPerSec']);
    const ratio = checkNumber(scope, 'retryBudget.ratio', rb.ratio ?? d.retryRatio, { min: 0, max: 10 });
    const minPerSec = checkNumber(scope, 'retryBudget.minPerSec', rb.minPerSec ?? d.retryMinPerSec, { min: 0 });
    this.hedgeAfterMs = o.hedgeAfterMs === undefined ? undefined : checkInteger(scope, 'hedgeAfterMs', o.hedgeAfterMs, { min: 0 });
    this.maxResponseBytes = checkInteger(scope, 'maxResponseBytes', o.maxResponseBytes ?? d.maxResponseBytes, { min: 1 });
    this.bodyTimeoutMs = checkInteger(scope, 'bodyTimeoutMs', o.bodyTimeoutMs ?? d.bodyTimeoutMs, { min: 1, max: 2 ** 31 - 1 });
    this.queue = { queued: 0, maxQueued: checkInteger(scope, 'maxQueued', o.maxQueued ?? d.maxQueued, { min: 0, max: 1_000_000 }) };
    const connections = checkInteger(scope, 'connections', o.connections ?? d.connections, { min: 1, max: 65_536 });
    if (o.dispatcher !== undefined && o.connections !== undefined) throw new InvalidOptionError(`${scope}: connections applies to the client's own dispatcher; set it on the dispatcher you pass instead`);
    this.ownsDispatcher = o.dispatcher === undefined;
    // connect timeout: a connection that cannot be made within the per-try deadline counts as that try's failure.
    this.dispatcher = o.dispatcher ?? new (undici().Agent)({ keepAliveTimeout: 4000, connections, connect: { timeout: this.perTryTimeoutMs } });
    this.clock = o.clock ?? systemClock;
    this.loop = {
      balancer: o.balancer,
      clock: this.clock,
      budget: new RetryBudget(ratio, minPerSec, this.clock.now()),
      timeoutMs: this.timeoutMs,
      maxAttempts: this.maxAttempts,
      retryOn: this.retryOn,
      events: this.events,
      counts: this.counts,
    };
    this.wheel = new DeadlineWheel(this.clock, this.perTryTimeoutMs, () => {});
    this.queueWheel = new DeadlineWheel(this.clock, this.timeoutMs, () => {});
  }

  /** Requests waiting inside this client for a free connection now. */
  get queued(): number {
    return this.queue.queued;
  }

  on<K extends keyof FailoverEvents>(name: K, listener: Listener<FailoverEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  get stats(): Readonly<typeof this.counts> {
    return { ...this.counts };
  }

  /** Sends a request and buffers the response body (hedged, with hedgeAfterMs). */
  async request(req: FailoverRequest): Promise<FailoverResponse<Buffer>> {
    const a = await runAttempts(this.loop, req, this.requestDispatch(req, true), { hedgeAfterMs: this.hedgeAfterMs });
    const r = a.response!;
    return { statusCode: r.statusCode, headers: r.headers, body: r.body as Buffer, endpoint: a.endpoint, attempts: a.attempts };
  }

  /** Sends a request and returns as soon as response headers arrive, with the body as a stream (for proxies). */
  async stream(req: FailoverRequest): Promise<FailoverResponse<Readable>> {
    const a = await runAttempts(this.loop, req, this.requestDispatch(req, false), {
      // A 5xx kept while the next upstream is tried: its body is discarded (an empty one is handed back).
      keep: (r) => ((r.body as Readable).resume(), { ...r, body: nodeStream().Readable.from([]) }),
    });
    const r = a.response!;
    return { statusCode: r.statusCode, headers: r.headers, body: r.body as Readable, endpoint: a.endpoint, attempts: a.attempts };
  }

  /**
   * For proxies: the response goes straight from undici's parser into the sink that `respond`
   * returns (a Writable, or anything with write/end/once('drain')) — no intermediate stream or
   * promise per chunk: each attempt is one `dispatch` with a hand-written handler. A 5xx from an
   * upstream that can be retried is dropped and the next upstream tried; `respond` is called
   * once, for the answer that is passed on.
   */
  async proxy(req: FailoverRequest, respond: (statusCode: number, headers: Record<string, string | string[] | undefined>, endpoint: Endpoint) => ProxySink): Promise<{ statusCode: number; endpoint: Endpoint; attempts: FailoverResponse<unknown>['attempts'] }> {
    const a = await runAttempts<undefined>(this.loop, req, (endpoint, spec) =>
      proxyAttempt({
        dispatcher: this.dispatcher,
        clock: this.clock,
        wheel: this.wheel,
        queueWheel: this.queueWheel,
        queue: this.queue,
        perTryTimeoutMs: this.perTryTimeoutMs,
        bodyTimeoutMs: this.bodyTimeoutMs,
        endpoint,
        // A hedged attempt's signal aborts it when another attempt answers first.
        req: withDeadline(spec.signal === req.signal ? req : { ...req, signal: spec.signal }, this.tryDeadline(spec.deadline), this.clock.now(), spec.prior),
        method: spec.method,
        deadline: spec.deadline,
        first: spec.first,
        canRetry: spec.canRetry,
        retryOn: spec.retryOn,
        respond,
        claim: spec.claim,
      }),
      { hedgeAfterMs: this.hedgeAfterMs, streaming: true },
    );
    return { statusCode: a.status, endpoint: a.endpoint, attempts: a.attempts };
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  /**
   * The deadline an attempt tells its upstream: the sooner of the request's and the try's own
   * (this client waits perTryTimeoutMs for an answer, then tries elsewhere). An upstream told the
   * whole request's time kept working for a try that had been given up on: a web node resumed
   * after a 1.5 s pause worked through every request it held, each already retried elsewhere.
   */
  private tryDeadline(deadline: number): number {
    return Math.min(deadline, this.clock.now() + this.perTryTimeoutMs);
  }

  /** One attempt of request() or stream(): on undici's `request`, with the attempt's signal (hedging aborts losers). */
  private requestDispatch(req: FailoverRequest, buffered: boolean): Dispatch<RequestAnswer> {
    return (endpoint, spec) =>
      requestAttempt({
        dispatcher: this.dispatcher,
        clock: this.clock,
        endpoint,
        req: withDeadline(spec.signal === req.signal ? req : { ...req, signal: spec.signal }, this.tryDeadline(spec.deadline), this.clock.now(), spec.prior),
        method: spec.method,
        budgetMs: Math.max(1, Math.min(this.perTryTimeoutMs, spec.deadline - this.clock.now())),
        buffered,
        maxResponseBytes: this.maxResponseBytes,
      });
  }
}

/** A list of HTTP statuses (400–599), as a set. */
function checkStatuses(scope: string, name: string, value: unknown): ReadonlySet<number> {
  if (!Array.isArray(value) || !value.every((s) => Number.isInteger(s) && s >= 400 && s <= 599)) {
    throw new InvalidOptionError(`${scope}: ${name} must be an array of HTTP statuses from 400 to 599 (e.g. [502, 503, 504]), got ${JSON.stringify(value)}`);
  }
  return new Set(value as number[]);
}

export function createFailoverClient(options: FailoverClientOptions): FailoverClient {
  return new FailoverClient(options);
}
