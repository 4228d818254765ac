import type { Readable } from 'node:stream';
import { nodeStream } from '../core/builtins.js';
import type { Dispatcher } from 'undici';
import { undici } from '../core/packages.js';
import { systemClock, type Clock } from '../core/clock.js';
import { SteadfastError } from '../core/errors.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkInteger, checkNumber, checkOptions } from '../core/options.js';
import { DeadlineWheel } from '../policy/deadline-wheel.js';
import type { Balancer, Endpoint } from './balancer.js';
import { proxyAttempt, RETRY_STATUS, type ProxySink, type QueueState } from './proxy-attempt.js';

export type { ProxySink } from './proxy-attempt.js';

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
  retryBudget?: RetryBudgetOptions;
  /** Buffered requests only: send a hedge to the next endpoint when no answer came after this long. */
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

export interface FailoverRequest {
  /** Path and query, e.g. '/carts/42?fresh=1'. */
  path: string;
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: Buffer | string;
  /** For the consistent-hash strategy: the request's key (user id, cart id…). */
  key?: string;
  /**
   * May this request be sent twice? Default: true for GET, HEAD, OPTIONS, PUT and DELETE. A
   * non-idempotent request is retried only when the connection was refused — it never left.
   */
  idempotent?: boolean;
  signal?: AbortSignal;
}

export interface AttemptRecord {
  endpoint: string;
  /**
   * `overloaded`: the request waited in this client for a free connection past its deadline, or
   * the wait queue was full — this process's limit, not the upstream's fault (it is neither
   * retried nor counted against the upstream). `invalid`: the request could not be sent at all.
   */
  outcome: 'ok' | 'http-error' | 'connect-refused' | 'connection-error' | 'timeout' | 'aborted' | 'overloaded' | 'invalid';
  status?: number;
  error?: string;
  durationMs: number;
}

export interface FailoverResponse<B> {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: B;
  endpoint: Endpoint;
  attempts: AttemptRecord[];
}

/** Every endpoint tried failed (or none was available); `attempts` says how. */
export class UpstreamUnavailableError extends SteadfastError {
  constructor(
    message: string,
    readonly attempts: AttemptRecord[],
  ) {
    super('ERR_UPSTREAM_UNAVAILABLE', message, { retryable: true });
  }
}

export interface FailoverEvents {
  attempt: AttemptRecord;
  retry: { from: string; reason: string };
  budgetExhausted: { path: string };
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

function classify(err: unknown): AttemptRecord['outcome'] {
  const code = (err as { code?: string; cause?: { code?: string } })?.code ?? (err as { cause?: { code?: string } })?.cause?.code;
  if (code === 'ECONNREFUSED') return 'connect-refused';
  if ((err as Error)?.name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  if ((err as Error)?.name === 'AbortError') return 'aborted';
  return 'connection-error';
}

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
  private readonly balancer: Balancer;
  private readonly ratio: number;
  private readonly minPerSec: number;
  private readonly hedgeAfterMs: number | undefined;
  private readonly maxResponseBytes: number;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly clock: Clock;
  private readonly events = new Emitter<FailoverEvents>();
  private budget: number;
  /** Most retries the budget can hold: the floor's worth, plus what 1000 requests earn. */
  private readonly budgetCap: number;
  private budgetAt: number;
  private readonly counts = { requests: 0, attempts: 0, retries: 0, budgetExhausted: 0, failures: 0 };
  /** Per-try deadlines of proxy() attempts. */
  private readonly wheel: DeadlineWheel;
  /** Queue-wait deadlines (the whole timeoutMs) of first proxy() attempts. */
  private readonly queueWheel: DeadlineWheel;
  private readonly queue: QueueState;
  readonly bodyTimeoutMs: number;

  constructor(options: FailoverClientOptions) {
    const scope = 'createFailoverClient';
    if (options === undefined) throw new TypeError(`${scope}: options { balancer } are required`);
    const o = checkOptions<FailoverClientOptions>(scope, options, [
      'balancer', 'perTryTimeoutMs', 'timeoutMs', 'maxAttempts', 'retryBudget', 'hedgeAfterMs', 'maxResponseBytes', 'bodyTimeoutMs', 'maxQueued', 'connections', 'dispatcher', 'clock',
    ]);
    if (!o.balancer || typeof (o.balancer as Balancer).preferenceList !== 'function') throw new TypeError(`${scope}: balancer must be a Balancer`);
    this.balancer = o.balancer;
    const d = FAILOVER_CLIENT_DEFAULTS;
    this.perTryTimeoutMs = checkInteger(scope, 'perTryTimeoutMs', o.perTryTimeoutMs ?? d.perTryTimeoutMs, { min: 1 });
    this.timeoutMs = checkInteger(scope, 'timeoutMs', o.timeoutMs ?? d.timeoutMs, { min: 1 });
    this.maxAttempts = checkInteger(scope, 'maxAttempts', o.maxAttempts ?? d.maxAttempts, { min: 1, max: 100 });
    const rb = checkOptions<RetryBudgetOptions>(`${scope}.retryBudget`, o.retryBudget, ['ratio', 'minPerSec']);
    this.ratio = checkNumber(scope, 'retryBudget.ratio', rb.ratio ?? d.retryRatio, { min: 0, max: 10 });
    this.minPerSec = checkNumber(scope, 'retryBudget.minPerSec', rb.minPerSec ?? d.retryMinPerSec, { min: 0 });
    this.hedgeAfterMs = o.hedgeAfterMs === undefined ? undefined : checkInteger(scope, 'hedgeAfterMs', o.hedgeAfterMs, { min: 0 });
    this.maxResponseBytes = checkInteger(scope, 'maxResponseBytes', o.maxResponseBytes ?? d.maxResponseBytes, { min: 1 });
    this.bodyTimeoutMs = checkInteger(scope, 'bodyTimeoutMs', o.bodyTimeoutMs ?? d.bodyTimeoutMs, { min: 1, max: 2 ** 31 - 1 });
    this.queue = { queued: 0, maxQueued: checkInteger(scope, 'maxQueued', o.maxQueued ?? d.maxQueued, { min: 0, max: 1_000_000 }) };
    const connections = checkInteger(scope, 'connections', o.connections ?? d.connections, { min: 1, max: 65_536 });
    if (o.dispatcher !== undefined && o.connections !== undefined) throw new TypeError(`${scope}: connections applies to the client's own dispatcher; set it on the dispatcher you pass instead`);
    this.ownsDispatcher = o.dispatcher === undefined;
    // connect timeout: a connection that cannot be made within the per-try deadline counts as that try's failure.
    this.dispatcher = o.dispatcher ?? new (undici().Agent)({ keepAliveTimeout: 4000, connections, connect: { timeout: this.perTryTimeoutMs } });
    this.clock = o.clock ?? systemClock;
    this.budgetCap = Math.max(this.minPerSec, 10) + 1000 * this.ratio;
    this.budget = this.minPerSec;
    this.budgetAt = this.clock.now();
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

  /** Sends a request and buffers the response body. */
  async request(req: FailoverRequest): Promise<FailoverResponse<Buffer>> {
    return this.run(req, true) as Promise<FailoverResponse<Buffer>>;
  }

  /** Sends a request and returns as soon as response headers arrive, with the body as a stream (for proxies). */
  async stream(req: FailoverRequest): Promise<FailoverResponse<Readable>> {
    return this.run(req, false) as Promise<FailoverResponse<Readable>>;
  }

  /**
   * For proxies: the response goes straight from undici's parser into the sink that `respond`
   * returns (a Writable, or anything with write/end/once('drain')) — no intermediate stream or
   * promise per chunk: each attempt is one `dispatch` with a hand-written handler. A 5xx from an
   * upstream that can be retried is dropped and the next upstream tried; `respond` is called
   * once, for the answer that is passed on.
   */
  async proxy(req: FailoverRequest, respond: (statusCode: number, headers: Record<string, string | string[] | undefined>, endpoint: Endpoint) => ProxySink): Promise<{ statusCode: number; endpoint: Endpoint; attempts: AttemptRecord[] }> {
    const { method, idempotent, deadline, candidates, attempts, limit } = this.begin(req);
    for (let i = 0; i < limit; i++) {
      if (i > 0 && !this.mayRetry(attempts, idempotent, req, deadline)) break;
      const endpoint = candidates[i]!;
      const canRetry = idempotent && i + 1 < limit;
      this.counts.attempts++;
      const lease = this.balancer.acquire(endpoint, req.key);
      const started = this.clock.now();
      const result = await proxyAttempt({
        dispatcher: this.dispatcher,
        clock: this.clock,
        wheel: this.wheel,
        queueWheel: this.queueWheel,
        queue: this.queue,
        perTryTimeoutMs: this.perTryTimeoutMs,
        bodyTimeoutMs: this.bodyTimeoutMs,
        endpoint,
        req,
        method,
        deadline,
        first: i === 0,
        canRetry,
        respond,
      });
      if (!result.ok) {
        const outcome: AttemptRecord['outcome'] = req.signal?.aborted || result.kind === 'abandoned'
          ? 'aborted'
          : result.kind === 'overloaded' || result.kind === 'invalid' || result.kind === 'timeout'
            ? result.kind
            : classify(result.error);
        const record: AttemptRecord = { endpoint: endpoint.id, outcome, error: result.error.message, durationMs: this.clock.now() - started };
        attempts.push(record);
        this.events.emit('attempt', record);
        // Only the upstream's own failures count against it.
        lease.done(outcome === 'aborted' || outcome === 'overloaded' || outcome === 'invalid');
        if (result.passedOn || req.signal?.aborted) throw result.error; // part of an answer went out: nothing to retry
        if (outcome === 'overloaded' || outcome === 'invalid') break; // another upstream would fare no better
        continue;
      }
      const status = result.status;
      const record: AttemptRecord = { endpoint: endpoint.id, outcome: status >= 500 ? 'http-error' : 'ok', status, durationMs: this.clock.now() - started };
      attempts.push(record);
      this.events.emit('attempt', record);
      lease.done(status < 500);
      if (result.passedOn) return { statusCode: status, endpoint, attempts };
    }
    throw this.unavailable(req, deadline, attempts);
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  /** What every request starts with: its method and safety, deadline, and the upstreams to try in order. */
  private begin(req: FailoverRequest): { method: string; idempotent: boolean; deadline: number; candidates: Endpoint[]; attempts: AttemptRecord[]; limit: number } {
    const method = (req.method ?? 'GET').toUpperCase();
    const idempotent = req.idempotent ?? IDEMPOTENT.has(method);
    this.counts.requests++;
    this.budget = Math.min(this.budget + this.ratio, this.budgetCap); // each request earns `ratio` of a retry
    // No AbortSignal.timeout / AbortSignal.any per request (they cost more than the proxying);
    // each attempt gets one controller and one timer, bounded by min(perTry, time left).
    const deadline = this.clock.now() + this.timeoutMs;
    const candidates = this.balancer.preferenceList(req.key);
    const attempts: AttemptRecord[] = [];
    if (candidates.length === 0) throw new UpstreamUnavailableError('no upstream endpoint is available (none registered and healthy)', attempts);
    return { method, idempotent, deadline, candidates, attempts, limit: Math.min(this.maxAttempts, candidates.length) };
  }

  /** The error for a request no upstream answered, listing every attempt. */
  private unavailable(req: FailoverRequest, deadline: number, attempts: AttemptRecord[]): UpstreamUnavailableError {
    this.counts.failures++;
    const summary = attempts.map((a) => `${a.endpoint} (${a.outcome}${a.status ? ` ${a.status}` : ''}${a.error ? `: ${a.error}` : ''})`).join(', ');
    const timedOut = this.clock.now() >= deadline && !req.signal?.aborted;
    return new UpstreamUnavailableError(timedOut ? `upstream request timed out after ${this.timeoutMs} ms (timeoutMs); tried ${summary}` : `no upstream could answer; tried ${summary}`, attempts);
  }

  /**
   * Whether the request may go to the next upstream after the attempts so far: it must be safe
   * to send again (idempotent, or the connection was refused so it never left), time must be
   * left, and the retry budget must have a token. Counts and reports the retry.
   */
  private mayRetry(attempts: AttemptRecord[], idempotent: boolean, req: FailoverRequest, deadline: number): boolean {
    const last = attempts[attempts.length - 1]!;
    const safe = idempotent || last.outcome === 'connect-refused';
    if (!safe || req.signal?.aborted || this.clock.now() >= deadline) return false;
    if (!this.takeRetryToken()) {
      this.counts.budgetExhausted++;
      this.events.emit('budgetExhausted', { path: req.path });
      return false;
    }
    this.counts.retries++;
    this.events.emit('retry', { from: last.endpoint, reason: last.outcome + (last.status ? ` ${last.status}` : '') });
    return true;
  }

  private takeRetryToken(): boolean {
    const now = this.clock.now();
    // The floor refills with time; each request deposits `ratio` of a retry.
    this.budget = Math.min(this.budget + ((now - this.budgetAt) / 1000) * this.minPerSec, this.budgetCap);
    this.budgetAt = now;
    if (this.budget < 1) return false;
    this.budget -= 1;
    return true;
  }

  private async run(req: FailoverRequest, buffered: boolean): Promise<FailoverResponse<Buffer | Readable>> {
    const { method, idempotent, deadline, candidates, attempts, limit } = this.begin(req);
    let lastResponse: FailoverResponse<Buffer | Readable> | undefined;
    let lastDiscarded = false;

    if (buffered && this.hedgeAfterMs !== undefined && idempotent && limit > 1) {
      return this.hedged(req, method, candidates.slice(0, limit), deadline, attempts);
    }

    for (let i = 0; i < limit; i++) {
      if (i > 0 && !this.mayRetry(attempts, idempotent, req, deadline)) break;
      const endpoint = candidates[i]!;
      const result = await this.attempt(endpoint, req, method, deadline, buffered, attempts);
      if (result === undefined) continue; // an error; try the next
      if (RETRY_STATUS.has(result.statusCode) && i + 1 < limit && idempotent) {
        lastResponse = result;
        if (!buffered) {
          (result.body as Readable).resume(); // discard it: the next endpoint may do better
          lastDiscarded = true;
        }
        continue;
      }
      return result;
    }
    if (lastResponse) {
      // A streamed 5xx body was discarded in order to retry; hand back an empty one.
      if (lastDiscarded) lastResponse.body = nodeStream().Readable.from([]);
      return lastResponse;
    }
    throw this.unavailable(req, deadline, attempts);
  }

  private async attempt(
    endpoint: Endpoint,
    req: FailoverRequest,
    method: string,
    deadline: number,
    buffered: boolean,
    attempts: AttemptRecord[],
  ): Promise<FailoverResponse<Buffer | Readable> | undefined> {
    this.counts.attempts++;
    const lease = this.balancer.acquire(endpoint, req.key);
    const started = this.clock.now();
    const budgetMs = Math.max(1, Math.min(this.perTryTimeoutMs, deadline - started));
    // One controller and one timer per attempt, aborted only when the deadline passes (undici's
    // own headersTimeout runs on a coarse timer wheel and can fire late by hundreds of ms).
    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, budgetMs);
    const onCallerAbort = (): void => ac.abort();
    req.signal?.addEventListener('abort', onCallerAbort, { once: true });
    try {
      const res = await undici().request(endpoint.url + req.path, {
        method: method as Dispatcher.HttpMethod,
        headers: req.headers,
        body: req.body,
        signal: ac.signal,
        dispatcher: this.dispatcher,
        headersTimeout: budgetMs + 1000,
      });
      // Streaming: the deadline covers the wait for headers; the body may take its time.
      if (!buffered) clearTimeout(timer);
      let body: Buffer | Readable = res.body;
      if (buffered) {
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const c of res.body) {
          size += (c as Buffer).length;
          if (size > this.maxResponseBytes) {
            res.body.destroy();
            throw new Error(`response larger than maxResponseBytes=${this.maxResponseBytes}`);
          }
          chunks.push(c as Buffer);
        }
        body = Buffer.concat(chunks);
      }
      const record: AttemptRecord = { endpoint: endpoint.id, outcome: res.statusCode >= 500 ? 'http-error' : 'ok', status: res.statusCode, durationMs: this.clock.now() - started };
      attempts.push(record);
      this.events.emit('attempt', record);
      lease.done(res.statusCode < 500);
      return { statusCode: res.statusCode, headers: res.headers, body, endpoint, attempts };
    } catch (err) {
      const outcome = req.signal?.aborted ? 'aborted' : timedOut ? 'timeout' : classify(err);
      const record: AttemptRecord = { endpoint: endpoint.id, outcome, error: (err as Error)?.message ?? String(err), durationMs: this.clock.now() - started };
      attempts.push(record);
      this.events.emit('attempt', record);
      lease.done(outcome === 'aborted'); // the caller's own abort is not the endpoint's fault
      if (req.signal?.aborted) throw req.signal.reason;
      return undefined;
    } finally {
      // Buffered: the deadline covered the body too. Streaming: cleared above once headers came;
      // clearing again after an error is harmless.
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onCallerAbort);
    }
  }

  /** Idempotent, buffered: the first attempt, then a hedge on the next endpoint after hedgeAfterMs (or at once on failure). */
  private hedged(req: FailoverRequest, method: string, candidates: Endpoint[], deadline: number, attempts: AttemptRecord[]): Promise<FailoverResponse<Buffer>> {
    return new Promise((resolve, reject) => {
      let next = 0;
      let running = 0;
      let settled = false;
      let last5xx: FailoverResponse<Buffer> | undefined;
      const controllers: AbortController[] = [];
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (): void => {
        settled = true;
        if (timer) clearTimeout(timer);
        for (const c of controllers) c.abort();
      };
      const launch = (): void => {
        if (settled || next >= candidates.length) return;
        if (next > 0) {
          if (!this.takeRetryToken()) return;
          this.counts.retries++;
        }
        const endpoint = candidates[next++]!;
        const ac = new AbortController();
        controllers.push(ac);
        running++;
        void this.attempt(endpoint, { ...req, signal: req.signal ? AbortSignal.any([req.signal, ac.signal]) : ac.signal }, method, deadline, true, attempts).then(
          (r) => {
            running--;
            if (settled) return;
            if (r && !RETRY_STATUS.has(r.statusCode)) {
              finish();
              return resolve(r as FailoverResponse<Buffer>);
            }
            if (r) last5xx = r as FailoverResponse<Buffer>;
            if (next < candidates.length) return launch();
            if (running === 0) {
              finish();
              if (last5xx) return resolve(last5xx);
              reject(this.unavailable(req, deadline, attempts));
            }
          },
          (err: unknown) => {
            running--;
            if (settled) return;
            finish();
            reject(err);
          },
        );
        if (next < candidates.length) {
          if (timer) clearTimeout(timer);
          timer = setTimeout(launch, this.hedgeAfterMs);
        }
      };
      launch();
    });
  }
}

export function createFailoverClient(options: FailoverClientOptions): FailoverClient {
  return new FailoverClient(options);
}
