import path from 'node:path';
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

describe('one error contract', () => {
  it('maps every code to one HTTP status, for every server', async () => {
    const { HTTP_STATUS_OF, httpStatusOf, httpError, InvalidOptionError, OptionRangeError } = await import('../../src/core/errors.js');
    for (const code of Object.values(ErrorCode)) expect(HTTP_STATUS_OF[code], code).toBeGreaterThanOrEqual(400);
    const rows: [unknown, number][] = [
      [new TimeoutError(5), 504],
      [httpError(404, 'no such key'), 404],
      [httpError(409, 'exists'), 409],
      [new InvalidOptionError('x: must be a number'), 400],
      [new OptionRangeError('x: must be ≥ 1'), 400],
      [new TypeError('from a check'), 400],
      [new Error('a bug'), 500],
      ['not even an error', 500],
    ];
    for (const [err, status] of rows) expect(httpStatusOf(err)).toBe(status);
    const opt = new InvalidOptionError('x');
    expect(opt).toBeInstanceOf(TypeError);
    expect(opt.code).toBe('ERR_INVALID_OPTION');
  });

  it('option errors from the library carry ERR_INVALID_OPTION and still are TypeErrors', async () => {
    const { createFailoverClient } = await import('../../src/balance/index.js');
    const { Balancer } = await import('../../src/balance/index.js');
    const b = new Balancer({ instances: ['http://127.0.0.1:1'] });
    let caught: unknown;
    try {
      createFailoverClient({ balancer: b, maxAttempts: 0 });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RangeError);
    expect((caught as { code?: string }).code).toBe('ERR_INVALID_OPTION');
    expect((caught as Error).message).toMatch(/maxAttempts/);
  });

  it('no error code is a bare string literal outside core/errors.ts, and no error class bypasses SteadfastError', async () => {
    const { sourceFiles } = await import('../support/source.js');
    const offenders: string[] = [];
    for (const { file, text } of sourceFiles()) {
      if (file === path.join('core', 'errors.ts')) continue;
      if (/['"`]ERR_[A-Z_]+['"`]/.test(text)) offenders.push(`${file}: a bare ERR_ literal`);
      for (const m of text.matchAll(/^export class (\w+) extends (Error|TypeError|RangeError)\b/gm)) offenders.push(`${file}: ${m[1]} extends ${m[2]}`);
      if (/Object\.assign\(new Error\([^)]*\), \{ status/.test(text)) offenders.push(`${file}: an Error tagged with a status`);
    }
    expect(offenders).toEqual([]);
  });
});
