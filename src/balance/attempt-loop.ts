import type { Clock } from '../core/clock.js';
import { hedgeRace, type RaceEntry } from '../policy/hedge.js';
import type { Emitter } from '../core/events.js';
import { classify, IDEMPOTENT, retriedOf, UpstreamUnavailableError, type AttemptRecord, type AttemptResult, type FailoverRequest } from './attempt.js';
import type { Balancer, Endpoint } from './balancer.js';
import type { RetryBudget } from '../policy/retry-budget.js';

export interface FailoverEvents {
  attempt: AttemptRecord;
  /** `reason` is the previous attempt's outcome, or 'hedge' for a hedge sent while it runs. */
  retry: { from: string; reason: string };
  budgetExhausted: { path: string };
}

export interface LoopCounts {
  requests: number;
  attempts: number;
  /** Retries, and of them the hedges: sent while the attempt before was still running. */
  retries: number;
  hedges: number;
  budgetExhausted: number;
  failures: number;
  /** Requests that arrived marked as a retry (RETRY_HEADER) and so were given one attempt. */
  markedRetries: number;
}

/** What the loop needs from its client. */
export interface LoopContext {
  balancer: Balancer;
  clock: Clock;
  budget: RetryBudget;
  timeoutMs: number;
  maxAttempts: number;
  /** Statuses an idempotent request is tried elsewhere on. */
  retryOn: ReadonlySet<number>;
  events: Emitter<FailoverEvents>;
  counts: LoopCounts;
}

/** Sends one attempt to `endpoint`; how (proxy, request, stream) is the caller's business. */
export type Dispatch<R> = (endpoint: Endpoint, attempt: AttemptSpec) => Promise<AttemptResult<R>>;

export interface AttemptSpec {
  method: string;
  /** Clock time by which the whole request must end. */
  deadline: number;
  /** The request's first attempt. */
  first: boolean;
  /** Attempts of this request started before this one (0 for the first; RETRY_HEADER says it to the upstream). */
  prior: number;
  /** Whether an answer with a status in `retryOn` may be dropped for the next upstream. */
  canRetry: boolean;
  retryOn: ReadonlySet<number>;
  /** Aborts this attempt: the caller's signal, or (hedging) the caller's and the loser's. */
  signal: AbortSignal | undefined;
  /**
   * Hedged streaming only: called when this attempt's answer would start to pass on. true: it is
   * the one, and the other attempts are cancelled; false: another attempt passes its answer on
   * already, so this one must drop its answer and end.
   */
  claim?: () => boolean;
}

export interface LoopAnswer<R> {
  status: number;
  endpoint: Endpoint;
  /** The answer as the dispatch returned it; undefined when it was passed on (proxy()). */
  response: R | undefined;
  attempts: AttemptRecord[];
}

export interface LoopOptions<R> {
  /** Send a hedge to the next upstream when no answer came after this long (idempotent requests only). */
  hedgeAfterMs?: number | undefined;
  /**
   * Attempts pass their answer on as it arrives (proxy()): of hedged attempts, only the first
   * whose headers arrive may pass on (AttemptSpec.claim), and a retryable 5xx passes on only
   * from the last candidate.
   */
  streaming?: boolean;
  /** A retryable 5xx answer kept while the next upstream is tried: free what it holds, return what to keep. */
  keep?: (response: R) => R;
}

/**
 * The one failover loop of FailoverClient, whichever way an attempt is dispatched. It owns the
 * candidates (the balancer's preference list), the request's deadline, whether another attempt
 * may go out (safe to resend, time left, a token in the retry budget), the record of every
 * attempt (event, stats, and the balancer lease: only the upstream's own failures count against
 * it) and the error when no upstream answered. Hedging is an option of the same loop.
 */
export async function runAttempts<R>(ctx: LoopContext, req: FailoverRequest, dispatch: Dispatch<R>, options: LoopOptions<R> = {}): Promise<LoopAnswer<R>> {
  const method = (req.method ?? 'GET').toUpperCase();
  const idempotent = req.idempotent ?? IDEMPOTENT.has(method);
  ctx.counts.requests++;
  ctx.budget.deposit();
  const deadline = ctx.clock.now() + (req.deadlineMs !== undefined ? Math.min(ctx.timeoutMs, Math.max(0, req.deadlineMs)) : ctx.timeoutMs);
  const attempts: AttemptRecord[] = [];
  if (req.deadlineMs !== undefined && req.deadlineMs <= 0) {
    ctx.counts.failures++;
    throw new UpstreamUnavailableError(`the request's deadline had passed before it was sent (deadlineMs ${req.deadlineMs}); nothing was tried`, attempts);
  }
  const candidates = ctx.balancer.preferenceList(req.key);
  if (candidates.length === 0) throw new UpstreamUnavailableError('no upstream endpoint is available (none registered and healthy)', attempts);
  // A request the hop before already retried gets one attempt here: retries are not multiplied.
  const marked = retriedOf(req.headers);
  if (marked) ctx.counts.markedRetries++;
  const limit = marked ? 1 : Math.min(ctx.maxAttempts, candidates.length);
  const run = { req, method, idempotent, deadline, candidates, attempts, limit };
  if (options.hedgeAfterMs !== undefined && idempotent && limit > 1) return hedged(ctx, run, dispatch, options.hedgeAfterMs, options.streaming === true);
  return sequential(ctx, run, dispatch, options.keep);
}

interface Run {
  req: FailoverRequest;
  method: string;
  idempotent: boolean;
  deadline: number;
  candidates: Endpoint[];
  attempts: AttemptRecord[];
  limit: number;
}

async function sequential<R>(ctx: LoopContext, run: Run, dispatch: Dispatch<R>, keep: ((r: R) => R) | undefined): Promise<LoopAnswer<R>> {
  const { req, candidates, attempts, limit } = run;
  let last: LoopAnswer<R> | undefined;
  for (let i = 0; i < limit; i++) {
    if (i > 0 && !mayRetry(ctx, run)) break;
    const endpoint = candidates[i]!;
    const canRetry = run.idempotent && i + 1 < limit;
    const result = await attempt(ctx, run, dispatch, endpoint, { method: run.method, deadline: run.deadline, first: i === 0, prior: i, canRetry, retryOn: ctx.retryOn, signal: req.signal });
    if (!result.ok) {
      if (req.signal?.aborted) throw req.signal.reason ?? result.error;
      if (result.passedOn) throw result.error; // part of an answer went out: nothing to retry
      if (result.kind === 'overloaded' || result.kind === 'invalid') break; // another upstream would fare no better
      continue;
    }
    const answer: LoopAnswer<R> = { status: result.status, endpoint, response: result.response, attempts };
    if (result.passedOn) return answer;
    if (canRetry && ctx.retryOn.has(result.status)) {
      // The next upstream may do better; a 5xx the caller would get back is kept meanwhile.
      if (result.response !== undefined) last = { ...answer, response: keep ? keep(result.response) : result.response };
      continue;
    }
    return answer;
  }
  if (last) return last;
  throw unavailable(ctx, run);
}

/**
 * Idempotent: the first attempt, then a hedge on the next upstream after hedgeAfterMs (at once on
 * a failure). Streaming, the first attempt whose answer starts to pass on holds the response:
 * the others are cancelled then and no more start, unless it fails before anything reached the
 * caller (then the race goes on).
 */
async function hedged<R>(ctx: LoopContext, run: Run, dispatch: Dispatch<R>, hedgeAfterMs: number, streaming: boolean): Promise<LoopAnswer<R>> {
  const { req } = run;
  const cancels = new Map<number, () => void>();
  let holder = -1;
  const claimFor = (index: number) => (): boolean => {
    if (holder >= 0) return holder === index;
    holder = index;
    for (const [i, cancel] of cancels) if (i !== index) cancel();
    return true;
  };
  const outcome = await hedgeRace<Endpoint, AttemptResult<R>>({
    candidates: run.candidates.slice(0, run.limit),
    delayMs: hedgeAfterMs,
    clock: ctx.clock,
    signal: req.signal,
    mayStart: (_index, cause) => holder < 0 && withdraw(ctx, run, cause === undefined ? 'hedge' : reasonOf(cause.value)),
    start: (endpoint, index) => {
      const ac = new AbortController();
      const cancel = (): void => ac.abort();
      cancels.set(index, cancel);
      const signal = req.signal ? AbortSignal.any([req.signal, ac.signal]) : ac.signal;
      const spec: AttemptSpec = { method: run.method, deadline: run.deadline, first: index === 0, prior: index, canRetry: !streaming || index + 1 < run.limit, retryOn: ctx.retryOn, signal };
      if (streaming) spec.claim = claimFor(index);
      const result = attempt(ctx, run, dispatch, endpoint, spec).then((r) => {
        cancels.delete(index);
        // Failed before anything reached the caller: another attempt may still answer.
        if (holder === index && !r.ok && !r.passedOn) holder = -1;
        return r;
      });
      return { result, cancel };
    },
    accept: (r) => r.ok && !ctx.retryOn.has(r.status),
  });
  if (outcome.aborted) throw req.signal?.reason;
  const answerOf = (e: RaceEntry<Endpoint, AttemptResult<R>>): LoopAnswer<R> | undefined =>
    e.value?.ok ? { status: e.value.status, endpoint: e.candidate, response: e.value.response, attempts: run.attempts } : undefined;
  const winner = outcome.won[0];
  if (winner !== undefined) return answerOf(winner)!;
  // Every upstream failed: a 5xx answer, if one came, is the caller's answer.
  const last5xx = outcome.lost.map(answerOf).filter((a) => a !== undefined).pop();
  if (last5xx !== undefined) return last5xx;
  throw unavailable(ctx, run);
}

function reasonOf<R>(r: AttemptResult<R> | undefined): string {
  if (r === undefined) return 'error';
  return r.ok ? `http-error ${r.status}` : r.kind;
}

/** One attempt, recorded: stats, event, and the lease's verdict on the upstream. */
async function attempt<R>(ctx: LoopContext, run: Run, dispatch: Dispatch<R>, endpoint: Endpoint, spec: AttemptSpec): Promise<AttemptResult<R>> {
  ctx.counts.attempts++;
  const lease = ctx.balancer.acquire(endpoint, run.req.key);
  const started = ctx.clock.now();
  const result = await dispatch(endpoint, spec);
  let record: AttemptRecord;
  if (result.ok) {
    record = { endpoint: endpoint.id, outcome: result.status >= 500 ? 'http-error' : 'ok', status: result.status, durationMs: ctx.clock.now() - started };
    // A shed answer's Retry-After keeps the upstream at the back of preference lists that long.
    lease.done(result.status < 500, result.retryAfterMs);
  } else {
    const outcome: AttemptRecord['outcome'] =
      spec.signal?.aborted || result.kind === 'abandoned'
        ? 'aborted'
        : result.kind === 'overloaded' || result.kind === 'invalid' || (result.kind === 'timeout' && classify(result.error) !== 'connect-timeout')
          ? result.kind
          : classify(result.error);
    record = { endpoint: endpoint.id, outcome, error: result.error.message, durationMs: ctx.clock.now() - started };
    // Only the upstream's own failures count against it.
    lease.done(outcome === 'aborted' || outcome === 'overloaded' || outcome === 'invalid');
  }
  run.attempts.push(record);
  ctx.events.emit('attempt', record);
  return result;
}

/**
 * Whether the request may go to the next upstream after the attempts so far: it must be safe
 * to send again (idempotent, or the connection was refused so it never left), time must be
 * left, and the retry budget must have a token.
 */
function mayRetry(ctx: LoopContext, run: Run): boolean {
  const last = run.attempts[run.attempts.length - 1]!;
  const safe = run.idempotent || last.outcome === 'connect-refused' || last.outcome === 'connect-timeout';
  if (!safe || run.req.signal?.aborted || ctx.clock.now() >= run.deadline) return false;
  return withdraw(ctx, run, last.outcome + (last.status ? ` ${last.status}` : ''));
}

/** Takes a retry token, counting and reporting the retry — or the budget running out. */
function withdraw(ctx: LoopContext, run: Run, reason: string): boolean {
  if (!ctx.budget.withdraw(ctx.clock.now())) {
    ctx.counts.budgetExhausted++;
    ctx.events.emit('budgetExhausted', { path: run.req.path });
    return false;
  }
  ctx.counts.retries++;
  if (reason === 'hedge') ctx.counts.hedges++;
  const last = run.attempts[run.attempts.length - 1];
  ctx.events.emit('retry', { from: last?.endpoint ?? run.candidates[0]!.id, reason });
  return true;
}

/** The error for a request no upstream answered, listing every attempt. */
function unavailable(ctx: LoopContext, run: Run): UpstreamUnavailableError {
  ctx.counts.failures++;
  const summary = run.attempts.map((a) => `${a.endpoint} (${a.outcome}${a.status ? ` ${a.status}` : ''}${a.error ? `: ${a.error}` : ''})`).join(', ');
  const timedOut = ctx.clock.now() >= run.deadline && !run.req.signal?.aborted;
  return new UpstreamUnavailableError(timedOut ? `upstream request timed out after ${ctx.timeoutMs} ms (timeoutMs); tried ${summary}` : `no upstream could answer; tried ${summary}`, run.attempts);
}
