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
  ABORTED: 'ERR_ABORTED',
  HEDGE_FAILED: 'ERR_HEDGE_FAILED',
  INVALID_OPTION: 'ERR_INVALID_OPTION',
  CHECKPOINT_CORRUPT: 'ERR_CHECKPOINT_CORRUPT',
  CHECKPOINT_TOO_LARGE: 'ERR_CHECKPOINT_TOO_LARGE',
  CHECKPOINT_OUTCOME_UNKNOWN: 'ERR_CHECKPOINT_OUTCOME_UNKNOWN',
  CHECKPOINT_STORE_CLOSED: 'ERR_CHECKPOINT_STORE_CLOSED',
  RECOVERY_BLOCK_FAILED: 'ERR_RECOVERY_BLOCK_FAILED',
} as const;

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
