import { describe, expect, it } from 'vitest';
import {
  AbortedError,
  BulkheadFullError,
  CircuitOpenError,
  ErrorCode,
  HedgeFailedError,
  RateLimitedError,
  SteadfastError,
  TimeoutError,
  isRetryable,
  isSteadfastError,
} from '../../src/core/index.js';

describe('SteadfastError', () => {
  it('carries a stable code, a retryable flag and its subclass name', () => {
    const err = new TimeoutError(250);
    expect(err).toBeInstanceOf(SteadfastError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(ErrorCode.TIMEOUT);
    expect(err.code).toBe('ERR_TIMEOUT');
    expect(err.retryable).toBe(true);
    expect(err.name).toBe('TimeoutError');
    expect(err.message).toBe('timeout: operation timed out after 250 ms');
  });

  it('has a type guard that can match a code', () => {
    const err: unknown = new CircuitOpenError('db', 9200, "circuit 'db' is open for 9.2 s more (halfOpenAfterMs=10000)");
    expect(isSteadfastError(err)).toBe(true);
    expect(isSteadfastError(err, 'ERR_CIRCUIT_OPEN')).toBe(true);
    expect(isSteadfastError(err, 'ERR_TIMEOUT')).toBe(false);
    expect(isSteadfastError(new Error('x'))).toBe(false);
  });

  it('says which errors are worth a retry', () => {
    expect(isRetryable(new TimeoutError(1))).toBe(true);
    expect(isRetryable(new BulkheadFullError(1, 0))).toBe(true);
    expect(isRetryable(new RateLimitedError(10, 5))).toBe(true);
    expect(isRetryable(new CircuitOpenError('c', 1, 'open'))).toBe(false);
    expect(isRetryable(new AbortedError())).toBe(false);
    expect(isRetryable(new Error('ECONNRESET'))).toBe(true);
  });

  it('gives messages that say what to change', () => {
    expect(new BulkheadFullError(4, 8).message).toMatch(/4 executing and 8 queued \(raise maxConcurrent or maxQueue/);
    expect(new RateLimitedError(12.5, 100).message).toBe('rate limit of 100/s exceeded; next token in 12.5 ms');
  });

  it('lists every attempt of a failed hedge and keeps the first as cause', () => {
    const a = new Error('a');
    const err = new HedgeFailedError([a, new TimeoutError(5)]);
    expect(err.errors).toHaveLength(2);
    expect(err.cause).toBe(a);
    expect(err.message).toMatch(/all 2 hedged attempts failed; first: Error: a/);
  });
});
