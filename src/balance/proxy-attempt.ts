import type { Dispatcher } from 'undici';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { DeadlineSlot, DeadlineWheel, WheelMember } from '../policy/deadline-wheel.js';
import { shedRetryAfter, type AttemptResult, type FailoverRequest } from './attempt.js';
import type { Endpoint } from './balancer.js';

/** Where proxy() writes an answer: a Writable, or anything with the same three methods. */
export interface ProxySink {
  write(chunk: Buffer): boolean;
  end(): void;
  once(event: 'drain', listener: () => void): unknown;
  readonly destroyed?: boolean;
  destroy?(err?: Error): unknown;
  /** Called if the receiving side goes away before the answer ends (the upstream is then abandoned). */
  onClose?(listener: () => void): unknown;
  /**
   * False while nothing has reached the receiver yet (a sink that gathers small answers): an
   * attempt that fails then can still be retried elsewhere. Absent means committed at once.
   */
  readonly committed?: boolean;
}

interface DispatchController {
  abort(reason: Error): void;
  pause(): void;
  resume(): void;
}

/** Requests queued inside the client (dispatched, no connection yet), shared by its attempts. */
export interface QueueState {
  queued: number;
  readonly maxQueued: number;
}

export interface ProxyAttemptOptions {
  dispatcher: Dispatcher;
  clock: Clock;
  /** Per-try deadlines of perTryTimeoutMs. */
  wheel: DeadlineWheel;
  /** Queue deadlines of the whole timeoutMs (first attempts). */
  queueWheel: DeadlineWheel;
  queue: QueueState;
  perTryTimeoutMs: number;
  bodyTimeoutMs: number;
  endpoint: Endpoint;
  req: FailoverRequest;
  method: string;
  /** Clock time by which the whole request must end. */
  deadline: number;
  /** The first attempt: its queue wait joins queueWheel instead of a timer of its own. */
  first: boolean;
  canRetry: boolean;
  /** Statuses dropped (when canRetry) so the next upstream is tried. */
  retryOn: ReadonlySet<number>;
  respond: (statusCode: number, headers: Record<string, string | string[] | undefined>, endpoint: Endpoint) => ProxySink;
  /** Hedged: asked before the answer passes on; false means another attempt's answer passes on already (AttemptSpec.claim). */
  claim?: (() => boolean) | undefined;
}

/** An endpoint's origin and path prefix, parsed once. */
const targets = new WeakMap<Endpoint, { origin: string; prefix: string }>();
function targetOf(endpoint: Endpoint): { origin: string; prefix: string } {
  let t = targets.get(endpoint);
  if (!t) {
    const u = new URL(endpoint.url);
    t = { origin: u.origin, prefix: u.pathname.replace(/\/+$/, '') };
    targets.set(endpoint, t);
  }
  return t;
}

/** A deadline on a wheel when it is the wheel's own length, else a timer of its own. */
class Deadline {
  private timer: TimerHandle | undefined;
  private slot: DeadlineSlot | undefined;
  private readonly member: WheelMember;
  constructor(
    private readonly clock: Clock,
    wheel: DeadlineWheel,
    useWheel: boolean,
    ms: number,
    fire: () => void,
  ) {
    this.member = { settled: false, watchIndex: -1, fire };
    if (useWheel) {
      this.slot = wheel.join();
      this.slot.watch(this.member);
    } else this.timer = clock.setTimeout(fire, Math.max(1, ms));
  }
  clear(): void {
    if (this.member.settled) return;
    this.member.settled = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.slot?.leave(this.member);
  }
}

/**
 * One attempt of FailoverClient.proxy(): a single undici `dispatch` whose hand-written handler
 * writes the answer straight into the sink `respond` returns — no stream, factory or promise per
 * chunk. A retryable 5xx is dropped (the caller tries the next upstream).
 *
 * Two phases, two deadlines. While the request waits in undici's queue for a connection (every
 * connection to the upstream busy) only the request's overall deadline runs: that wait is this
 * process's own, and must neither time out nor eject a healthy upstream. The per-try deadline
 * starts when the request is written to a connection (`onRequestStart`) and ends at the
 * response headers. After the headers, a body that stalls for bodyTimeoutMs fails the attempt —
 * and if the sink has passed nothing on yet, the caller may still try elsewhere.
 */
export function proxyAttempt(o: ProxyAttemptOptions): Promise<AttemptResult<undefined>> {
  const { req, endpoint, queue, clock } = o;
  const target = targetOf(endpoint);
  if (queue.queued >= queue.maxQueued) {
    return Promise.resolve({ ok: false, kind: 'overloaded', passedOn: false, error: new Error(`${queue.queued} requests already wait for a connection in this client (maxQueued=${queue.maxQueued})`) });
  }
  return new Promise((resolve) => {
    let controller: DispatchController | undefined;
    let status = 0;
    let passedOn = false;
    let retryAfterMs: number | undefined;
    let sink: ProxySink | undefined;
    let settled = false;
    let queued = true;
    queue.queued++;
    let expired: 'queue' | 'try' | undefined;
    let deadline: Deadline | undefined;
    const leaveQueue = (): void => {
      if (!queued) return;
      queued = false;
      queue.queued--;
    };
    const finish = (r: AttemptResult<undefined>): void => {
      if (settled) return;
      settled = true;
      leaveQueue();
      deadline?.clear();
      req.signal?.removeEventListener('abort', onCallerAbort);
      resolve(r);
    };
    const failWith = (kind: 'timeout' | 'error', err: unknown): void => {
      const error = err instanceof Error ? err : new Error(String(err));
      const committed = passedOn && sink?.committed !== false;
      if (committed) sink?.destroy?.(error);
      finish({ ok: false, kind, error, passedOn: committed });
    };
    const onQueueExpired = (): void => {
      expired = 'queue';
      finish({ ok: false, kind: 'overloaded', passedOn: false, error: new Error(`waited for a free connection to ${endpoint.id} until the request's deadline (every connection busy; raise connections or shed load)`) });
    };
    const onTryExpired = (): void => {
      expired = 'try';
      const err = Object.assign(new Error(`no response headers within ${o.perTryTimeoutMs} ms (perTryTimeoutMs)`), { name: 'TimeoutError' });
      if (controller) controller.abort(err);
      failWith('timeout', err);
    };
    // Queue phase: the overall deadline. The first attempt's is the client's whole timeoutMs, so
    // it joins a wheel of that length (no timer per request); a later one gets its own timer.
    deadline = new Deadline(clock, o.queueWheel, o.first, o.deadline - clock.now(), onQueueExpired);
    const onCallerAbort = (): void => {
      const err = Object.assign(new Error('the caller aborted the request'), { name: 'AbortError' });
      if (controller) controller.abort(err);
      failWith('error', err);
    };
    req.signal?.addEventListener('abort', onCallerAbort, { once: true });
    // The client went away mid-answer: drop the upstream response. The upstream did nothing
    // wrong, so this must not count against it (a load tool that closes its connections at the
    // end of a run would otherwise eject healthy upstreams).
    const abandon = (): void => {
      if (settled) return;
      const error = Object.assign(new Error('the client went away'), { name: 'AbortError' });
      finish({ ok: false, kind: 'abandoned', error, passedOn: true });
      controller?.abort(error);
    };
    const handler = {
      onRequestStart(c: DispatchController): void {
        controller = c;
        if (settled) {
          c.abort(new Error(expired === 'queue' ? 'gave up waiting for a connection' : 'the attempt already ended'));
          return;
        }
        leaveQueue();
        deadline!.clear();
        const left = o.deadline - clock.now();
        deadline = new Deadline(clock, o.wheel, left >= o.perTryTimeoutMs, Math.min(o.perTryTimeoutMs, left), onTryExpired);
      },
      onResponseStart(_c: DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
        deadline?.clear();
        status = statusCode;
        retryAfterMs = shedRetryAfter(statusCode, headers, Date.now());
        if (o.canRetry && o.retryOn.has(statusCode)) return; // dropped; the next upstream is tried
        if (o.claim !== undefined && !o.claim()) {
          const err = Object.assign(new Error('another attempt of this request answered first'), { name: 'AbortError' });
          controller?.abort(err);
          failWith('error', err);
          return;
        }
        passedOn = true;
        sink = o.respond(statusCode, headers, endpoint);
        // A client that leaves while the upstream is paused for backpressure would never
        // 'drain': abandon the upstream response instead.
        sink.onClose?.(abandon);
      },
      onResponseData(c: DispatchController, chunk: Buffer): void {
        if (!sink) return;
        if (sink.destroyed) return abandon();
        if (!sink.write(chunk)) {
          c.pause();
          sink.once('drain', () => c.resume());
        }
      },
      onResponseEnd(): void {
        if (settled) return;
        sink?.end();
        finish({ ok: true, status, passedOn, response: undefined, retryAfterMs });
      },
      onResponseError(_c: DispatchController, err: Error): void {
        failWith(expired === 'try' ? 'timeout' : 'error', err);
      },
    };
    try {
      o.dispatcher.dispatch(
        {
          origin: target.origin,
          path: target.prefix + req.path,
          method: o.method as Dispatcher.HttpMethod,
          headers: req.headers ?? null,
          body: req.body ?? null,
          headersTimeout: o.perTryTimeoutMs + 1000,
          bodyTimeout: o.bodyTimeoutMs,
        },
        handler as unknown as Dispatcher.DispatchHandler,
      );
    } catch (err) {
      // undici refused the request itself (a header it does not support, say): no upstream saw it.
      finish({ ok: false, kind: 'invalid', passedOn: false, error: err instanceof Error ? err : new Error(String(err)) });
    }
  });
}
