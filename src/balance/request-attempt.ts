import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Clock } from '../core/clock.js';
import { undici } from '../core/packages.js';
import { shedRetryAfter, type AttemptResult, type FailoverRequest } from './attempt.js';
import type { Endpoint } from './balancer.js';

export interface RequestAnswer {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer | Readable;
}

export interface RequestAttemptOptions {
  dispatcher: Dispatcher;
  clock: Clock;
  endpoint: Endpoint;
  req: FailoverRequest;
  method: string;
  /** This attempt's budget: min(perTryTimeoutMs, time left). */
  budgetMs: number;
  /** Buffer the body (request()) or hand it back as a stream once headers came (stream()). */
  buffered: boolean;
  maxResponseBytes: number;
}

/**
 * One attempt of FailoverClient.request() or stream(), on undici's `request`. One controller and
 * one timer, aborted only when the budget passes (undici's own headersTimeout runs on a coarse
 * timer wheel and can fire late by hundreds of ms). Buffered, the budget covers the body too;
 * streaming, only the wait for headers.
 */
export async function requestAttempt(o: RequestAttemptOptions): Promise<AttemptResult<RequestAnswer>> {
  const { req } = o;
  const ac = new AbortController();
  let timedOut = false;
  const timer = o.clock.setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, o.budgetMs);
  const onCallerAbort = (): void => ac.abort();
  req.signal?.addEventListener('abort', onCallerAbort, { once: true });
  try {
    const res = await undici().request(o.endpoint.url + req.path, {
      method: o.method as Dispatcher.HttpMethod,
      headers: req.headers,
      body: req.body,
      signal: ac.signal,
      dispatcher: o.dispatcher,
      headersTimeout: o.budgetMs + 1000,
    });
    if (!o.buffered) o.clock.clearTimeout(timer);
    let body: Buffer | Readable = res.body;
    if (o.buffered) {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of res.body) {
        size += (c as Buffer).length;
        if (size > o.maxResponseBytes) {
          res.body.destroy();
          throw new Error(`response larger than maxResponseBytes=${o.maxResponseBytes}`);
        }
        chunks.push(c as Buffer);
      }
      body = Buffer.concat(chunks);
    }
    return { ok: true, status: res.statusCode, passedOn: false, response: { statusCode: res.statusCode, headers: res.headers, body }, retryAfterMs: shedRetryAfter(res.statusCode, res.headers, Date.now()) };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    return timedOut ? { ok: false, kind: 'timeout', error, passedOn: false } : { ok: false, kind: 'error', error, passedOn: false };
  } finally {
    o.clock.clearTimeout(timer);
    req.signal?.removeEventListener('abort', onCallerAbort);
  }
}
