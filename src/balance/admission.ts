import type { IncomingMessage, ServerResponse } from 'node:http';
import { systemClock, type Clock } from '../core/clock.js';
import { InvalidOptionError } from '../core/errors.js';
import { checkClock, checkOptions } from '../core/options.js';
import { AdaptiveLimitPolicy, LimitExceededError, type AdaptiveLimitOptions } from '../policy/adaptive-limit.js';
import { LoadShedder, OverloadedError, type LoadShedderOptions, type Priority } from '../policy/load-shedder.js';
import { DEADLINE_HEADER, deadlineOf } from './attempt.js';

/** A request may lower its own priority with this header (`low`); it can never raise it. */
export const PRIORITY_HEADER = 'x-steadfast-priority';

export interface AdmissionOptions {
  /** adaptiveLimit options for the requests in flight, or false for none. Default: adaptiveLimit() (Gradient2). */
  limit?: AdaptiveLimitOptions | false;
  /** loadShedder options (event-loop delay, heap), or false for none. Default: loadShedder() started, its timer unref'd. */
  shedder?: LoadShedderOptions | false;
  clock?: Clock;
}

export interface AdmissionStats {
  admitted: number;
  /** Answered 503 + Retry-After: past the concurrency limit. */
  shedByLimit: number;
  /** Answered 503 + Retry-After: the process itself is overloaded (event loop, heap). */
  shedByHealth: number;
  /** Answered 504 without any work: the caller's deadline had passed when the request arrived. */
  expired: number;
  limit: number | null;
  inflight: number;
}

/** What `admit` hands back for an admitted request: call `done` once when its work ends. */
export interface Admitted {
  /** Time the caller still gives the request (ms), from its deadline header; undefined when it sent none. */
  deadlineMs: number | undefined;
  done(outcome?: { dropped?: boolean; error?: unknown }): void;
}

/**
 * Fault prevention at a server's door, before any work: a request whose caller's deadline
 * (`x-steadfast-deadline-ms`) has already passed is answered 504; while the process is
 * overloaded (loadShedder) or the requests in flight are at the adaptive limit, it is answered
 * 503 with Retry-After in microseconds instead of joining a queue that would time everyone out.
 * Priorities: `critical` (health checks, registry heartbeats, control traffic) is never shed nor
 * counted against the limit; `low` is shed first (at half the shedder's thresholds) — a request
 * may ask to be `low` itself with `x-steadfast-priority: low`.
 *
 *   const door = createAdmission();
 *   http.createServer((req, res) => {
 *     const a = door.admit(req, res);          // undefined: already answered (503 / 504)
 *     if (!a) return;
 *     handle(req, res, a.deadlineMs).then(() => a.done(), (error) => a.done({ error }));
 *   });
 */
export class Admission {
  readonly limit: AdaptiveLimitPolicy | undefined;
  readonly shedder: LoadShedder | undefined;
  private readonly counts = { admitted: 0, shedByLimit: 0, shedByHealth: 0, expired: 0 };

  constructor(options: AdmissionOptions = {}) {
    const scope = 'createAdmission';
    const o = checkOptions<AdmissionOptions>(scope, options, ['limit', 'shedder', 'clock']);
    if (o.clock !== undefined) checkClock(scope, o.clock);
    const clock = o.clock ?? systemClock;
    for (const k of ['limit', 'shedder'] as const) {
      const v = o[k];
      if (v !== undefined && v !== false && (typeof v !== 'object' || v === null)) throw new InvalidOptionError(`${scope}: ${k} must be options for ${k === 'limit' ? 'adaptiveLimit' : 'loadShedder'} or false, got ${JSON.stringify(v)}`);
    }
    this.limit = o.limit === false ? undefined : new AdaptiveLimitPolicy({ clock, ...o.limit });
    this.shedder = o.shedder === false ? undefined : new LoadShedder({ clock, ...o.shedder }).start();
  }

  get stats(): AdmissionStats {
    const l = this.limit?.stats;
    return { ...this.counts, limit: l ? l.limit : null, inflight: l ? l.inflight : 0 };
  }

  /**
   * Admits the request, or answers it (503 + Retry-After, or 504) and returns undefined. A
   * `critical` request is always admitted (its `done` is a no-op).
   */
  admit(req: IncomingMessage, res: ServerResponse, priority: Priority = 'normal'): Admitted | undefined {
    const deadlineMs = deadlineOf(req.headers);
    if (priority === 'critical') return { deadlineMs, done: () => {} };
    if (deadlineMs === 0) {
      this.counts.expired++;
      refuse(res, 504, undefined, `the request's deadline (${DEADLINE_HEADER}: 0) had passed when it arrived; not started`);
      return undefined;
    }
    const asked = req.headers[PRIORITY_HEADER];
    const p: Priority = asked === 'low' ? 'low' : priority;
    try {
      this.shedder?.check(p);
    } catch (err) {
      if (!(err instanceof OverloadedError)) throw err;
      this.counts.shedByHealth++;
      refuse(res, 503, err.retryAfterMs, err.message);
      return undefined;
    }
    let done: Admitted['done'] = () => {};
    if (this.limit) {
      try {
        done = this.limit.acquire();
      } catch (err) {
        if (!(err instanceof LimitExceededError)) throw err;
        this.counts.shedByLimit++;
        refuse(res, 503, err.retryAfterMs, err.message);
        return undefined;
      }
    }
    this.counts.admitted++;
    return { deadlineMs, done };
  }

  /** Stops the shedder's measurements. */
  close(): void {
    this.shedder?.stop();
  }
}

function refuse(res: ServerResponse, status: number, retryAfterMs: number | undefined, message: string): void {
  const body = JSON.stringify({ error: message });
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-steadfast-shed': status === 503 ? 'overload' : 'deadline' };
  if (retryAfterMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
  res.writeHead(status, headers);
  res.end(body);
}

export function createAdmission(options?: AdmissionOptions): Admission {
  return new Admission(options);
}
