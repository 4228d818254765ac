import type { Dispatcher } from 'undici';
import type { DeadlineSlot, DeadlineWheel } from '../policy/deadline-wheel.js';
import type { Endpoint } from './balancer.js';
import type { FailoverRequest } from './failover-client.js';

export const RETRY_STATUS = new Set([500, 502, 503, 504]);

/** Where proxy() writes an answer: a Writable, or anything with the same three methods. */
export interface ProxySink {
  write(chunk: Buffer): boolean;
  end(): void;
  once(event: 'drain', listener: () => void): unknown;
  readonly destroyed?: boolean;
  destroy?(err?: Error): unknown;
  /** Called if the receiving side goes away before the answer ends (the upstream is then abandoned). */
  onClose?(listener: () => void): unknown;
}

interface DispatchController {
  abort(reason: Error): void;
  pause(): void;
  resume(): void;
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

/**
 * One attempt of FailoverClient.proxy(): a single undici `dispatch` whose hand-written handler
 * writes the answer straight into the sink `respond` returns — no stream, factory or promise per
 * chunk. A retryable 5xx is dropped (the caller tries the next upstream). Rejects with the error,
 * marked `steadfastTimeout` when the per-try deadline passed and `passedOn` when part of the
 * answer already went to the sink.
 */
export function proxyAttempt(
  dispatcher: Dispatcher,
  wheel: DeadlineWheel,
  perTryTimeoutMs: number,
  totalTimeoutMs: number,
  endpoint: Endpoint,
  req: FailoverRequest,
  method: string,
  timeoutMs: number,
  canRetry: boolean,
  respond: (statusCode: number, headers: Record<string, string | string[] | undefined>, endpoint: Endpoint) => ProxySink,
): Promise<{ status: number; passedOn: boolean }> {
  const target = targetOf(endpoint);
  return new Promise((resolve, reject) => {
    let controller: DispatchController | undefined;
    let status = 0;
    let passedOn = false;
    let sink: ProxySink | undefined;
    let settled = false;
    let timedOut = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimer();
      req.signal?.removeEventListener('abort', onCallerAbort);
      const e = (err instanceof Error ? err : new Error(String(err))) as Error & { steadfastTimeout?: boolean; passedOn?: boolean };
      if (timedOut) e.steadfastTimeout = true;
      e.passedOn = passedOn;
      if (passedOn) sink?.destroy?.(e);
      reject(e);
    };
    // The per-try deadline, released when the headers arrive. The usual one (the full
    // perTryTimeoutMs) joins this client's deadline wheel — no timer per request; it fires
    // between perTryTimeoutMs and 1.1× that. A shorter one (the overall deadline is near) gets
    // its own timer. (undici's headersTimeout runs on a coarse wheel and can be 100s of ms late.)
    const onTimeout = (): void => {
      timedOut = true;
      const err = Object.assign(new Error(`no response headers within ${timeoutMs} ms (perTryTimeoutMs)`), { name: 'TimeoutError' });
      if (controller) controller.abort(err);
      else fail(err);
    };
    let timer: NodeJS.Timeout | undefined;
    let slot: DeadlineSlot | undefined;
    const member = { settled: false, watchIndex: -1, fire: onTimeout };
    if (timeoutMs === perTryTimeoutMs) {
      slot = wheel.join();
      slot.watch(member);
    } else timer = setTimeout(onTimeout, timeoutMs);
    const clearTimer = (): void => {
      if (member.settled) return;
      member.settled = true;
      if (timer !== undefined) clearTimeout(timer);
      if (slot !== undefined && !slot.expired) {
        slot.live--;
        slot.unwatch(member);
      }
    };
    const onCallerAbort = (): void => controller?.abort(Object.assign(new Error('the caller aborted the request'), { name: 'AbortError' }));
    req.signal?.addEventListener('abort', onCallerAbort, { once: true });
    const handler = {
      onRequestStart(c: DispatchController): void {
        controller = c;
        if (timedOut) c.abort(new Error('timed out before the request started'));
      },
      onResponseStart(_c: DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
        clearTimer();
        status = statusCode;
        if (canRetry && RETRY_STATUS.has(statusCode)) return; // dropped; the next upstream is tried
        passedOn = true;
        sink = respond(statusCode, headers, endpoint);
        // A client that leaves while the upstream is paused for backpressure would never
        // 'drain': abandon the upstream response instead.
        sink.onClose?.(() => {
          if (!settled) controller?.abort(new Error('the client went away'));
        });
      },
      onResponseData(c: DispatchController, chunk: Buffer): void {
        if (!sink) return;
        if (sink.destroyed) {
          c.abort(new Error('the client went away'));
          return;
        }
        if (!sink.write(chunk)) {
          c.pause();
          sink.once('drain', () => c.resume());
        }
      },
      onResponseEnd(): void {
        if (settled) return;
        settled = true;
        clearTimer();
        req.signal?.removeEventListener('abort', onCallerAbort);
        sink?.end();
        resolve({ status, passedOn });
      },
      onResponseError(_c: DispatchController, err: Error): void {
        fail(err);
      },
    };
    try {
      dispatcher.dispatch(
        { origin: target.origin, path: target.prefix + req.path, method: method as Dispatcher.HttpMethod, headers: req.headers ?? null, body: req.body ?? null, headersTimeout: perTryTimeoutMs + 1000, bodyTimeout: totalTimeoutMs },
        handler as unknown as Dispatcher.DispatchHandler,
      );
    } catch (err) {
      fail(err);
    }
  });
}
