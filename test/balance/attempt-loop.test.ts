import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { Emitter } from '../../src/core/events.js';
import { RETRY_STATUS, type AttemptResult } from '../../src/balance/attempt.js';
import { runAttempts, type AttemptSpec, type FailoverEvents, type LoopContext } from '../../src/balance/attempt-loop.js';
import { Balancer, type Endpoint } from '../../src/balance/balancer.js';
import { RetryBudget } from '../../src/policy/retry-budget.js';

describe('RetryBudget', () => {
  // Each row: ratio, floor per second, then steps — 'r' a request (deposit), a number a retry
  // attempted at that clock time (true if it may go) — and the retries allowed.
  const table: { name: string; ratio: number; minPerSec: number; steps: (string | number)[]; allowed: boolean[] }[] = [
    { name: 'starts with one second of the floor', ratio: 0.2, minPerSec: 2, steps: [0, 0, 0], allowed: [true, true, false] },
    { name: 'no floor: only deposits pay for retries', ratio: 0.5, minPerSec: 0, steps: [0, 'r', 0, 'r', 'r', 0, 0], allowed: [false, false, true, false] },
    { name: 'each request earns ratio of a retry', ratio: 0.2, minPerSec: 0, steps: ['r', 'r', 'r', 'r', 0, 'r', 0], allowed: [false, true] },
    { name: 'time refills the floor', ratio: 0, minPerSec: 10, steps: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 100, 150], allowed: [true, true, true, true, true, true, true, true, true, true, false, true, false, false] },
    { name: 'ratio 0 and floor 0: never', ratio: 0, minPerSec: 0, steps: ['r', 'r', 0, 10_000], allowed: [false, false] },
  ];
  for (const row of table) {
    it(row.name, () => {
      const b = new RetryBudget(row.ratio, row.minPerSec, 0);
      const got: boolean[] = [];
      for (const s of row.steps) {
        if (s === 'r') b.deposit();
        else got.push(b.withdraw(s as number));
      }
      expect(got).toEqual(row.allowed);
    });
  }

  it('holds at most the floor (at least 10) plus what 1000 requests earn', () => {
    const b = new RetryBudget(0.2, 10, 0);
    expect(b.cap).toBe(210);
    for (let i = 0; i < 100_000; i++) b.deposit();
    expect(b.available).toBe(210);
    b.withdraw(3_600_000); // an idle hour adds nothing past the cap
    expect(b.available).toBe(209);
    expect(new RetryBudget(0, 50, 0).cap).toBe(50);
  });
});

/** A loop over endpoints a, b, c (round-robin) and a dispatch scripted per endpoint. */
function setup(options: { maxAttempts?: number; ratio?: number; minPerSec?: number; timeoutMs?: number } = {}) {
  const clock = new ManualClock();
  const balancer = new Balancer({ instances: ['http://a', 'http://b', 'http://c'], strategy: 'round-robin', clock });
  const events = new Emitter<FailoverEvents>();
  const seen: { attempt: string[]; retry: string[]; budgetExhausted: number } = { attempt: [], retry: [], budgetExhausted: 0 };
  events.on('attempt', (a) => seen.attempt.push(`${a.endpoint} ${a.outcome}${a.status ? ` ${a.status}` : ''}`));
  events.on('retry', (r) => seen.retry.push(r.reason));
  events.on('budgetExhausted', () => seen.budgetExhausted++);
  const ctx: LoopContext = {
    balancer,
    clock,
    budget: new RetryBudget(options.ratio ?? 0.2, options.minPerSec ?? 10, clock.now()),
    timeoutMs: options.timeoutMs ?? 10_000,
    maxAttempts: options.maxAttempts ?? 3,
    retryOn: RETRY_STATUS,
    events,
    counts: { requests: 0, attempts: 0, retries: 0, hedges: 0, budgetExhausted: 0, failures: 0, markedRetries: 0 },
  };
  return { clock, balancer, ctx, seen };
}

type Script = Record<string, (spec: AttemptSpec) => AttemptResult<string> | Promise<AttemptResult<string>>>;
const answer = (status: number, body = `${status}`): AttemptResult<string> => ({ ok: true, status, passedOn: false, response: body });
const refused = (): AttemptResult<string> => ({ ok: false, kind: 'error', passedOn: false, error: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
// undici's connect timeout, as the proxy's try reports it (kind 'timeout'): the upstream could not be reached.
const unreachable = (): AttemptResult<string> => ({ ok: false, kind: 'timeout', passedOn: false, error: Object.assign(new Error('Connect Timeout Error (attempted address: 10.0.0.9:80, timeout: 1000ms)'), { code: 'UND_ERR_CONNECT_TIMEOUT' }) });
const slow = (): AttemptResult<string> => ({ ok: false, kind: 'timeout', passedOn: false, error: Object.assign(new Error('no response headers within 1000 ms (perTryTimeoutMs)'), { name: 'TimeoutError' }) });
const reset = (): AttemptResult<string> => ({ ok: false, kind: 'error', passedOn: false, error: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
const dispatchOf = (script: Script) => (e: Endpoint, spec: AttemptSpec) => Promise.resolve(script[e.id]!(spec));

describe('runAttempts (the failover loop)', () => {
  // Each row: the request, what each endpoint answers, and what the loop must do.
  const rows: { name: string; method?: string; idempotent?: boolean; script: Script; status?: number; body?: string; error?: RegExp; attempts: string[]; retries: number }[] = [
    { name: 'an answer from the first upstream', script: { 'http://a': () => answer(200) }, status: 200, attempts: ['http://a ok 200'], retries: 0 },
    { name: 'a 503 is tried elsewhere', script: { 'http://a': () => answer(503), 'http://b': () => answer(200) }, status: 200, attempts: ['http://a http-error 503', 'http://b ok 200'], retries: 1 },
    { name: 'a 404 is the answer', script: { 'http://a': () => answer(404) }, status: 404, attempts: ['http://a ok 404'], retries: 0 },
    { name: 'the last 5xx is returned when every upstream answers 5xx', script: { 'http://a': () => answer(503, 'a'), 'http://b': () => answer(502, 'b'), 'http://c': () => answer(500, 'c') }, status: 500, body: 'c', attempts: ['http://a http-error 503', 'http://b http-error 502', 'http://c http-error 500'], retries: 2 },
    { name: 'a kept 5xx is returned when a later attempt fails', script: { 'http://a': () => answer(503, 'a'), 'http://b': reset, 'http://c': reset }, status: 503, body: 'a', attempts: ['http://a http-error 503', 'http://b connection-error', 'http://c connection-error'], retries: 2 },
    { name: 'every upstream down: a clear error listing each attempt', script: { 'http://a': refused, 'http://b': refused, 'http://c': refused }, error: /no upstream could answer; tried http:\/\/a \(connect-refused.*http:\/\/b.*http:\/\/c/, attempts: ['http://a connect-refused', 'http://b connect-refused', 'http://c connect-refused'], retries: 2 },
    { name: 'a POST is not resent after a reset', method: 'POST', script: { 'http://a': reset, 'http://b': () => answer(200) }, error: /no upstream could answer/, attempts: ['http://a connection-error'], retries: 0 },
    { name: 'a connect timeout is its own outcome (unreachable, not slow), and a POST is resent after one (it never left)', method: 'POST', script: { 'http://a': unreachable, 'http://b': () => answer(201) }, status: 201, attempts: ['http://a connect-timeout', 'http://b ok 201'], retries: 1 },
    { name: 'a try with no answer in time is a timeout, and a POST is not resent after it', method: 'POST', script: { 'http://a': slow, 'http://b': () => answer(201) }, error: /no upstream could answer; tried http:\/\/a \(timeout/, attempts: ['http://a timeout'], retries: 0 },
    { name: 'a POST is resent after a refused connection (it never left)', method: 'POST', script: { 'http://a': refused, 'http://b': () => answer(201) }, status: 201, attempts: ['http://a connect-refused', 'http://b ok 201'], retries: 1 },
    { name: 'a POST marked idempotent is resent after a reset', method: 'POST', idempotent: true, script: { 'http://a': reset, 'http://b': () => answer(200) }, status: 200, attempts: ['http://a connection-error', 'http://b ok 200'], retries: 1 },
    { name: 'overloaded here: not tried elsewhere, not the upstream’s fault', script: { 'http://a': () => ({ ok: false, kind: 'overloaded', passedOn: false, error: new Error('queue full') }) }, error: /queue full/, attempts: ['http://a overloaded'], retries: 0 },
    { name: 'an answer already passed on ends the loop with its error', script: { 'http://a': () => ({ ok: false, kind: 'error', passedOn: true, error: new Error('reset mid-body') }) }, error: /reset mid-body/, attempts: ['http://a connection-error'], retries: 0 },
  ];
  for (const row of rows) {
    it(row.name, async () => {
      const { ctx, seen } = setup();
      const p = runAttempts(ctx, { path: '/x', ...(row.method ? { method: row.method } : {}), ...(row.idempotent !== undefined ? { idempotent: row.idempotent } : {}) }, dispatchOf(row.script));
      if (row.error) await expect(p).rejects.toThrow(row.error);
      else {
        const r = await p;
        expect(r.status).toBe(row.status);
        if (row.body !== undefined) expect(r.response).toBe(row.body);
      }
      expect(seen.attempt).toEqual(row.attempts);
      expect(ctx.counts.retries).toBe(row.retries);
      expect(seen.retry).toHaveLength(row.retries);
    });
  }

  it('retryOn decides which answers are tried elsewhere: 429 when listed, 503 not when left out', async () => {
    const { ctx, seen } = setup();
    ctx.retryOn = new Set([429, 502]);
    const script = { 'http://a': () => answer(429), 'http://b': () => answer(503), 'http://c': () => answer(200) };
    const r = await runAttempts(ctx, { path: '/x' }, dispatchOf(script));
    expect(r.status).toBe(503); // a tried b after a's 429; b's 503 is not in retryOn: the answer
    expect(seen.attempt).toEqual(['http://a ok 429', 'http://b http-error 503']);
  });

  it('tells each attempt how many went before it (RETRY_HEADER), hedges included', async () => {
    const { ctx } = setup();
    const priors: number[] = [];
    const script: Script = Object.fromEntries(['http://a', 'http://b', 'http://c'].map((u) => [u, (spec: AttemptSpec) => (priors.push(spec.prior), u === 'http://c' ? answer(200) : answer(502))]));
    await runAttempts(ctx, { path: '/x' }, dispatchOf(script));
    expect(priors).toEqual([0, 1, 2]);
  });

  it('a request marked as a retry by the hop before gets one attempt here, and is counted', async () => {
    const { ctx, seen } = setup();
    const script = { 'http://a': () => answer(503), 'http://b': () => answer(200) };
    const r = await runAttempts(ctx, { path: '/x', headers: { 'x-steadfast-retry': '1' } }, dispatchOf(script));
    expect(r.status).toBe(503);
    expect(seen.attempt).toEqual(['http://a http-error 503']);
    expect(ctx.counts).toMatchObject({ retries: 0, markedRetries: 1 });
    // An unreadable mark is not one.
    await runAttempts(ctx, { path: '/x', headers: { 'x-steadfast-retry': 'yes' } }, dispatchOf({ 'http://b': () => answer(503), 'http://c': () => answer(200) }));
    expect(ctx.counts.markedRetries).toBe(1);
  });

  it('an upstream that shed with Retry-After is tried last until the pause is over (capped at maxRetryAfterMs)', async () => {
    const { ctx, clock, balancer } = setup();
    const shed: AttemptResult<string> = { ok: true, status: 503, passedOn: false, response: 'busy', retryAfterMs: 2000 };
    await runAttempts(ctx, { path: '/x' }, dispatchOf({ 'http://a': () => shed, 'http://b': () => answer(200) }));
    for (let i = 0; i < 6; i++) expect(balancer.preferenceList().at(-1)!.id).toBe('http://a');
    expect(balancer.view().find((u) => u.id === 'http://a')).toMatchObject({ ejected: false, coolingUntil: 2000 });
    clock.advance(2000);
    const firsts = new Set(Array.from({ length: 3 }, () => balancer.preferenceList()[0]!.id));
    expect(firsts.has('http://a')).toBe(true);
    // An hour asked for is held to maxRetryAfterMs (30 s).
    const fresh = setup();
    await runAttempts(fresh.ctx, { path: '/x' }, dispatchOf({ 'http://a': () => ({ ...shed, retryAfterMs: 3_600_000 }), 'http://b': () => answer(200) }));
    expect(fresh.balancer.view().find((u) => u.id === 'http://a')!.coolingUntil).toBe(30_000);
  });

  it('stops retrying when the budget is empty, and says so', async () => {
    const { ctx, seen } = setup({ ratio: 0, minPerSec: 1 });
    const script = { 'http://a': refused, 'http://b': refused, 'http://c': refused };
    await expect(runAttempts(ctx, { path: '/x' }, dispatchOf(script))).rejects.toThrow(/no upstream/);
    // One second of floor (1 retry) went to the first request; the second gets none.
    expect(seen.attempt).toHaveLength(2);
    expect(seen.budgetExhausted).toBe(1);
    await expect(runAttempts(ctx, { path: '/x' }, dispatchOf(script))).rejects.toThrow(/no upstream/);
    expect(seen.attempt).toHaveLength(3);
    expect(seen.budgetExhausted).toBe(2);
  });

  it('gives each attempt the deadline, and stops once it passed', async () => {
    const { ctx, clock, seen } = setup({ timeoutMs: 1000 });
    const deadlines: number[] = [];
    const script: Script = {
      'http://a': (spec) => {
        deadlines.push(spec.deadline);
        clock.advance(1000); // this attempt used the whole budget
        return reset();
      },
      'http://b': () => answer(200),
    };
    await expect(runAttempts(ctx, { path: '/x' }, dispatchOf(script))).rejects.toThrow(/timed out after 1000 ms \(timeoutMs\)/);
    expect(deadlines).toEqual([1000]);
    expect(seen.attempt).toEqual(['http://a connection-error']);
  });

  it('does not count the caller’s abort against the upstream, and rethrows its reason', async () => {
    const { ctx, balancer } = setup();
    const ac = new AbortController();
    const script: Script = {
      'http://a': () => {
        ac.abort(new Error('caller gave up'));
        return { ok: false, kind: 'error', passedOn: false, error: Object.assign(new Error('aborted'), { name: 'AbortError' }) };
      },
    };
    await expect(runAttempts(ctx, { path: '/x', signal: ac.signal }, dispatchOf(script))).rejects.toThrow('caller gave up');
    expect(balancer.view().find((u) => u.id === 'http://a')!.failures).toBe(0);
  });

  it('hedges on ManualClock: a slow first attempt, a hedge after hedgeAfterMs wins, the loser is aborted', async () => {
    const { ctx, clock, seen } = setup();
    let loserSignal: AbortSignal | undefined;
    const script: Script = {
      'http://a': (spec) =>
        new Promise((resolve) => {
          loserSignal = spec.signal;
          spec.signal!.addEventListener('abort', () => resolve({ ok: false, kind: 'error', passedOn: false, error: Object.assign(new Error('aborted'), { name: 'AbortError' }) }));
        }),
      'http://b': () => answer(200, 'from b'),
    };
    const p = runAttempts(ctx, { path: '/x' }, dispatchOf(script), { hedgeAfterMs: 50 });
    await Promise.resolve();
    expect(seen.attempt).toEqual([]); // a is still running, b not sent yet
    clock.advance(49);
    await Promise.resolve();
    expect(ctx.counts.attempts).toBe(1);
    clock.advance(1);
    const r = await p;
    expect(r.response).toBe('from b');
    expect(loserSignal!.aborted).toBe(true);
    expect(seen.retry).toEqual(['hedge']);
    await new Promise((res) => setImmediate(res));
    expect(seen.attempt).toEqual(['http://b ok 200', 'http://a aborted']);
  });

  it('hedged: a failure with the retry budget empty ends the request with the error instead of waiting forever', async () => {
    const { ctx, seen } = setup({ ratio: 0, minPerSec: 0 });
    const p = runAttempts(ctx, { path: '/x' }, dispatchOf({ 'http://a': refused }), { hedgeAfterMs: 50 });
    await expect(p).rejects.toThrow(/no upstream could answer; tried http:\/\/a \(connect-refused/);
    expect(seen.budgetExhausted).toBe(1);
    expect(seen.attempt).toEqual(['http://a connect-refused']);
  });

  it('hedged: every upstream answers 5xx, the last 5xx is the answer', async () => {
    const { ctx, seen } = setup();
    const r = await runAttempts(ctx, { path: '/x' }, dispatchOf({ 'http://a': () => answer(503, 'a'), 'http://b': () => answer(502, 'b'), 'http://c': () => answer(500, 'c') }), { hedgeAfterMs: 50 });
    expect([r.status, r.response]).toEqual([500, 'c']);
    expect(seen.retry).toEqual(['http-error 503', 'http-error 502']);
  });
});
