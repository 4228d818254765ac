import { ErrorCode, parseRetryAfter, SteadfastError } from '../core/errors.js';
import type { Endpoint } from './balancer.js';

/** Statuses an idempotent request is tried elsewhere on by default (the upstream may do better); `retryOn` changes them. */
export const RETRY_STATUS: ReadonlySet<number> = new Set([500, 502, 503, 504]);

/**
 * Marks an attempt that is a retry (its value: how many attempts went before it). A hop that
 * receives a marked request makes one attempt itself: retries are made once, by the caller that
 * saw the failure, not multiplied at every hop (gateway × web × db).
 */
export const RETRY_HEADER = 'x-steadfast-retry';

/** Whether a request's headers mark it as a retry made by the hop before. */
export function retriedOf(headers: Record<string, string | string[] | undefined> | undefined): boolean {
  const v = headers?.[RETRY_HEADER];
  const text = Array.isArray(v) ? v[0] : v;
  return text !== undefined && /^\s*[1-9]\d{0,5}\s*$/.test(text);
}

/** Methods safe to send twice unless the caller says otherwise. */
export const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

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
  /**
   * The caller's own remaining time (for example what an incoming `x-steadfast-deadline-ms`
   * said): the request must end by the sooner of this and the client's timeoutMs. Every attempt
   * tells its upstream what is left in `x-steadfast-deadline-ms`.
   */
  deadlineMs?: number;
}

/** The header a request's remaining time travels in, in whole ms (0: already too late). */
export const DEADLINE_HEADER = 'x-steadfast-deadline-ms';

/** The remaining time a request's DEADLINE_HEADER gives, or undefined when it has none (or an unreadable one). */
export function deadlineOf(headers: Record<string, string | string[] | undefined>): number | undefined {
  const v = headers[DEADLINE_HEADER];
  const text = Array.isArray(v) ? v[0] : v;
  return text !== undefined && /^\d{1,10}$/.test(text.trim()) ? Number(text.trim()) : undefined;
}

/**
 * The request with its remaining time until `deadline` (clock time) in DEADLINE_HEADER, and —
 * for an attempt after the first (`priorAttempts` > 0) — RETRY_HEADER.
 */
export function withDeadline(req: FailoverRequest, deadline: number, now: number, priorAttempts = 0): FailoverRequest {
  const headers: Record<string, string | string[]> = { ...req.headers, [DEADLINE_HEADER]: String(Math.max(0, Math.floor(deadline - now))) };
  if (priorAttempts > 0) headers[RETRY_HEADER] = String(priorAttempts);
  return { ...req, headers };
}

export interface AttemptRecord {
  endpoint: string;
  /**
   * `overloaded`: the request waited in this client for a free connection past its deadline, or
   * the wait queue was full — this process's limit, not the upstream's fault (it is neither
   * retried nor counted against the upstream). `invalid`: the request could not be sent at all.
   * `aborted`: the caller aborted, or the client an answer was passed on to went away.
   */
  outcome: 'ok' | 'http-error' | 'connect-refused' | 'connect-timeout' | 'connection-error' | 'timeout' | 'aborted' | 'overloaded' | 'invalid';
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
    super(ErrorCode.UPSTREAM_UNAVAILABLE, message, { retryable: true });
  }
}

/** How one attempt ended when it did not end with an answer. */
export type AttemptFailure =
  /** Waited in this client's queue (every connection to the upstream busy) past the deadline, or the queue was full: not the upstream's fault. */
  | { kind: 'overloaded'; error: Error; passedOn: false }
  /** The request could not be sent at all (undici refused its headers): the same on every upstream. */
  | { kind: 'invalid'; error: Error; passedOn: false }
  /** The per-try deadline passed with no response headers. */
  | { kind: 'timeout'; error: Error; passedOn: boolean }
  /** A connection error, a reset, a body that stalled or was too large, or the caller aborted. */
  | { kind: 'error'; error: Error; passedOn: boolean }
  /** The downstream client went away while the answer was being passed on: not the upstream's fault. */
  | { kind: 'abandoned'; error: Error; passedOn: true };

/**
 * How one attempt ended. An answer carries the upstream's status; `passedOn` says whether it
 * already went to the receiver (proxy()), `response` holds it when the caller gets it back
 * (request(), stream()). A retryable 5xx that was neither is dropped: the next upstream is tried.
 */
export type AttemptResult<R> = { ok: true; status: number; passedOn: boolean; response: R | undefined; retryAfterMs?: number | undefined } | ({ ok: false } & AttemptFailure);

/** A 429 or 503 answer's Retry-After, in ms (the upstream asks not to be sent more for that long). */
export function shedRetryAfter(status: number, headers: Record<string, string | string[] | undefined>, now: number): number | undefined {
  if (status !== 429 && status !== 503) return undefined;
  const h = headers['retry-after'];
  return h === undefined ? undefined : parseRetryAfter(h, now);
}

/** The outcome an attempt's error is recorded as. */
export function classify(err: unknown): AttemptRecord['outcome'] {
  const code = (err as { code?: string; cause?: { code?: string } })?.code ?? (err as { cause?: { code?: string } })?.cause?.code;
  if (code === 'ECONNREFUSED') return 'connect-refused';
  // No connection within the connect timeout: the upstream is unreachable (down, or cut off by a
  // partition), not slow — the request never left, and it says nothing of overload.
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'connect-timeout';
  if ((err as Error)?.name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  if ((err as Error)?.name === 'AbortError') return 'aborted';
  return 'connection-error';
}
