/**
 * Errors with a stable `code` (match on it, not on the message) and a `retryable`
 * flag that `retry()` consults by default.
 */
export const ErrorCode = {
  TIMEOUT: 'ERR_TIMEOUT',
  CIRCUIT_OPEN: 'ERR_CIRCUIT_OPEN',
  CIRCUIT_ISOLATED: 'ERR_CIRCUIT_ISOLATED',
  BULKHEAD_FULL: 'ERR_BULKHEAD_FULL',
  RATE_LIMITED: 'ERR_RATE_LIMITED',
  /** Refused by an adaptive concurrency limit: shed now, retry after `retryAfterMs`. */
  LIMIT_EXCEEDED: 'ERR_LIMIT_EXCEEDED',
  /** Refused by a load shedder: the process is too busy (event loop late, heap nearly full). */
  OVERLOADED: 'ERR_OVERLOADED',
  ABORTED: 'ERR_ABORTED',
  HEDGE_FAILED: 'ERR_HEDGE_FAILED',
  INVALID_OPTION: 'ERR_INVALID_OPTION',
  CHECKPOINT_CORRUPT: 'ERR_CHECKPOINT_CORRUPT',
  CHECKPOINT_TOO_LARGE: 'ERR_CHECKPOINT_TOO_LARGE',
  CHECKPOINT_OUTCOME_UNKNOWN: 'ERR_CHECKPOINT_OUTCOME_UNKNOWN',
  CHECKPOINT_STORE_CLOSED: 'ERR_CHECKPOINT_STORE_CLOSED',
  RECOVERY_BLOCK_FAILED: 'ERR_RECOVERY_BLOCK_FAILED',
  /** A journal record or segment failed verification where it cannot be a torn tail. */
  JOURNAL_CORRUPT: 'ERR_JOURNAL_CORRUPT',
  /** A write or sync of the journal failed: it takes no more appends until reopened. */
  JOURNAL_FAILED: 'ERR_JOURNAL_FAILED',
  /** An append may or may not be durable (connection lost after sending, too few replicas). */
  JOURNAL_OUTCOME_UNKNOWN: 'ERR_JOURNAL_OUTCOME_UNKNOWN',
  UPSTREAM_UNAVAILABLE: 'ERR_UPSTREAM_UNAVAILABLE',
  QUORUM_FAILED: 'ERR_QUORUM_FAILED',
  STALE_TOKEN: 'ERR_STALE_TOKEN',
  MISSING_DEPENDENCY: 'ERR_MISSING_DEPENDENCY',
  REGISTRY_PERSISTENCE: 'ERR_REGISTRY_PERSISTENCE',
  REGISTRY_RESTORE: 'ERR_REGISTRY_RESTORE',
  REGISTRY_FULL: 'ERR_REGISTRY_FULL',
  /** A request a server refuses: its body, a field or a parameter is wrong (the message names it). */
  INVALID_REQUEST: 'ERR_INVALID_REQUEST',
  NOT_FOUND: 'ERR_NOT_FOUND',
  FORBIDDEN: 'ERR_FORBIDDEN',
  METHOD_NOT_ALLOWED: 'ERR_METHOD_NOT_ALLOWED',
  CONFLICT: 'ERR_CONFLICT',
  BODY_TOO_LARGE: 'ERR_BODY_TOO_LARGE',
  /** A server steadfast called (a registry, Consul, etcd) answered with an error. */
  REMOTE_ERROR: 'ERR_REMOTE_ERROR',
  /** The component was closed; make a new one. */
  CLOSED: 'ERR_CLOSED',
  /** A network namespace, link or firewall rule could not be made or removed (the message has the command and its error). */
  NETWORK_HOSTS: 'ERR_NETWORK_HOSTS',
} as const;

/**
 * The HTTP status every steadfast server answers an error with: one table for the registry,
 * the Toxiproxy API, the gateway and the demo's nodes.
 */
export const HTTP_STATUS_OF: Readonly<Record<ErrorCodeValue, number>> = Object.freeze({
  ERR_TIMEOUT: 504,
  ERR_CIRCUIT_OPEN: 503,
  ERR_CIRCUIT_ISOLATED: 503,
  ERR_BULKHEAD_FULL: 503,
  ERR_RATE_LIMITED: 429,
  ERR_LIMIT_EXCEEDED: 503,
  ERR_OVERLOADED: 503,
  ERR_ABORTED: 499,
  ERR_HEDGE_FAILED: 503,
  ERR_INVALID_OPTION: 400,
  ERR_CHECKPOINT_CORRUPT: 500,
  ERR_CHECKPOINT_TOO_LARGE: 413,
  ERR_CHECKPOINT_OUTCOME_UNKNOWN: 500,
  ERR_CHECKPOINT_STORE_CLOSED: 503,
  ERR_RECOVERY_BLOCK_FAILED: 500,
  ERR_JOURNAL_CORRUPT: 500,
  ERR_JOURNAL_FAILED: 503,
  ERR_JOURNAL_OUTCOME_UNKNOWN: 500,
  ERR_UPSTREAM_UNAVAILABLE: 503,
  ERR_QUORUM_FAILED: 503,
  ERR_STALE_TOKEN: 409,
  ERR_MISSING_DEPENDENCY: 500,
  ERR_REGISTRY_PERSISTENCE: 500,
  ERR_REGISTRY_RESTORE: 500,
  ERR_REGISTRY_FULL: 413,
  ERR_INVALID_REQUEST: 400,
  ERR_NOT_FOUND: 404,
  ERR_FORBIDDEN: 403,
  ERR_METHOD_NOT_ALLOWED: 405,
  ERR_CONFLICT: 409,
  ERR_BODY_TOO_LARGE: 413,
  ERR_REMOTE_ERROR: 502,
  ERR_CLOSED: 503,
  ERR_NETWORK_HOSTS: 500,
});

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface SteadfastErrorOptions {
  retryable?: boolean;
  cause?: unknown;
}

export class SteadfastError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: SteadfastErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/**
 * An option or argument is wrong; the message names it and what is accepted. A TypeError, as
 * Node's own argument errors are (so `instanceof TypeError` keeps working), with `code`
 * ERR_INVALID_OPTION like every other error steadfast throws.
 */
export class InvalidOptionError extends TypeError {
  // On the prototype, not own properties: the error compares equal to a plain TypeError of the same message.
  get code(): typeof ErrorCode.INVALID_OPTION {
    return ErrorCode.INVALID_OPTION;
  }
  get retryable(): false {
    return false;
  }
}

/** An option or argument is outside its range (a RangeError with code ERR_INVALID_OPTION). */
export class OptionRangeError extends RangeError {
  // On the prototype, not own properties: the error compares equal to a plain RangeError of the same message.
  get code(): typeof ErrorCode.INVALID_OPTION {
    return ErrorCode.INVALID_OPTION;
  }
  get retryable(): false {
    return false;
  }
}

/** A request a server refuses, with the code that says why (see HTTP_STATUS_OF). */
export class RequestError extends SteadfastError {
  constructor(code: ErrorCodeValue, message: string) {
    super(code, message, { retryable: false });
  }
}

const CODE_OF_STATUS = { 400: ErrorCode.INVALID_REQUEST, 403: ErrorCode.FORBIDDEN, 404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED, 409: ErrorCode.CONFLICT, 413: ErrorCode.BODY_TOO_LARGE } as const;

/** A RequestError for a refusal a server states by its status (the code is the status's in HTTP_STATUS_OF). */
export function httpError(status: keyof typeof CODE_OF_STATUS, message: string): RequestError {
  return new RequestError(CODE_OF_STATUS[status], message);
}

/**
 * The status a server answers `err` with: a SteadfastError's code through HTTP_STATUS_OF; a
 * TypeError or RangeError — what the library's argument checks throw, naming the field — 400;
 * anything else 500.
 */
export function httpStatusOf(err: unknown): number {
  if (err instanceof SteadfastError) return (HTTP_STATUS_OF as Record<string, number>)[err.code] ?? 500;
  if (err instanceof TypeError || err instanceof RangeError) return 400;
  return 500;
}

/** True when `err` is a SteadfastError, optionally of the given code. */
export function isSteadfastError(err: unknown, code?: string): err is SteadfastError {
  return err instanceof SteadfastError && (code === undefined || err.code === code);
}

/** A deadline passed (`timeout()` policy). Retryable: another attempt may be faster. */
export class TimeoutError extends SteadfastError {
  constructor(
    readonly timeoutMs: number,
    scope = 'timeout',
  ) {
    super(ErrorCode.TIMEOUT, `${scope}: operation timed out after ${timeoutMs} ms`, { retryable: true });
  }
}

/** The circuit is open (or half-open with every trial slot taken): the call was not made. */
export class CircuitOpenError extends SteadfastError {
  constructor(
    readonly circuit: string,
    /** Milliseconds until the breaker lets a trial call through; 0 when half-open and busy. */
    readonly retryAfterMs: number,
    message: string,
  ) {
    super(ErrorCode.CIRCUIT_OPEN, message, { retryable: false });
  }
}

/** The circuit was isolated by hand with `isolate()`. */
export class CircuitIsolatedError extends SteadfastError {
  constructor(readonly circuit: string) {
    super(ErrorCode.CIRCUIT_ISOLATED, `circuit '${circuit}' is isolated by hand; dispose the isolate() handle to close it`, {
      retryable: false,
    });
  }
}

/** Every execution slot and queue place of a bulkhead is taken. */
export class BulkheadFullError extends SteadfastError {
  constructor(
    readonly maxConcurrent: number,
    readonly maxQueue: number,
  ) {
    super(
      ErrorCode.BULKHEAD_FULL,
      `bulkhead is full: ${maxConcurrent} executing and ${maxQueue} queued (raise maxConcurrent or maxQueue, or shed load)`,
      { retryable: true },
    );
  }
}

/** A rate limiter had no token; `retryAfterMs` says when the next one is due. */
export class RateLimitedError extends SteadfastError {
  constructor(
    readonly retryAfterMs: number,
    readonly ratePerSec: number,
  ) {
    super(
      ErrorCode.RATE_LIMITED,
      `rate limit of ${ratePerSec}/s exceeded; next token in ${retryAfterMs.toFixed(1)} ms`,
      { retryable: true },
    );
  }
}

/** The caller's AbortSignal fired and no reason was given. */
export class AbortedError extends SteadfastError {
  constructor(message = 'operation aborted by the caller') {
    super(ErrorCode.ABORTED, message, { retryable: false });
  }
}

/** Every hedged attempt failed; `errors` holds each attempt's error in start order. */
export class HedgeFailedError extends SteadfastError {
  constructor(readonly errors: unknown[]) {
    super(ErrorCode.HEDGE_FAILED, `all ${errors.length} hedged attempts failed; first: ${describeError(errors[0])}`, {
      retryable: errors.some((e) => isRetryable(e)),
      cause: errors[0],
    });
  }
}

/**
 * Whether an error is worth another attempt: a SteadfastError says so itself;
 * any other error is assumed transient (the caller narrows with `retryOn`).
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof SteadfastError) return err.retryable;
  return true;
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/**
 * A Retry-After header value in ms from `now`: delay-seconds ("120") or an HTTP-date
 * ("Wed, 21 Oct 2026 07:28:00 GMT"); undefined when absent or unreadable (RFC 9110 §10.2.3).
 */
export function parseRetryAfter(value: unknown, now: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  const text = String(v).trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isFinite(at) && /[a-z]/i.test(text) ? Math.max(0, at - now) : undefined;
}

/**
 * How long the thing that refused a call asked the caller to wait, in ms: a steadfast error's
 * `retryAfterMs` (rate limit, adaptive limit, load shedder, open circuit), or the Retry-After
 * header of an HTTP answer or error carrying one (`headers['retry-after']`).
 */
export function retryAfterOf(outcome: unknown, now: number): number | undefined {
  if (outcome === null || typeof outcome !== 'object') return undefined;
  const ms = (outcome as { retryAfterMs?: unknown }).retryAfterMs;
  if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) return ms;
  const headers = (outcome as { headers?: Record<string, unknown> }).headers;
  if (headers && typeof headers === 'object') return parseRetryAfter(headers['retry-after'], now);
  return undefined;
}
