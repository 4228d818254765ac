import { systemClock, type Clock } from '../core/clock.js';
import { describeError, ErrorCode, SteadfastError, InvalidOptionError } from '../core/errors.js';
import { checkClock, checkFunction, checkNumber, checkOptions, checkString } from '../core/options.js';

/** How a recovery block saves and restores the state its alternates work on. */
export interface RecoveryState<P = unknown> {
  /** Establishes the recovery point. */
  capture(): P | Promise<P>;
  /** Rolls the state back to a recovery point. */
  restore(point: P): unknown;
}

/** A Checkpointer works as the state of a recovery block: checkpointNow() is the recovery point. */
interface CheckpointerLike {
  checkpointNow(): Promise<{ id: number }>;
  restoreFrom(id: number): Promise<unknown>;
}

/** Blocks inference: the arguments are learnt from `by`, not from `ensure`. */
type FromBy<A> = A extends unknown ? A : never;

export interface RecoveryBlockOptions<A extends unknown[], R> {
  /** The acceptance test: true when the result is acceptable. May be async; a throw counts as false. */
  ensure: (result: R, ...args: FromBy<A>) => boolean | Promise<boolean>;
  /** The primary, then the alternates, tried in order: same arguments, same kind of result; sync or async. */
  by: readonly [(...args: A) => R | Promise<R>, ...((...args: A) => R | Promise<R>)[]];
  /** Rolled back to the recovery point before each alternate (and after all fail). */
  state?: RecoveryState<unknown> | CheckpointerLike;
  /** Each alternate must deliver an acceptable result within this many ms. Default: no deadline. */
  deadlineMs?: number;
  /** Names the block in errors. Default 'recovery block'. */
  name?: string;
  clock?: Clock;
}

export interface RecoveryAttempt {
  index: number;
  /** The function's name, or 'primary' / 'alternate N'. */
  name: string;
  outcome: 'threw' | 'rejected' | 'deadline';
  error?: unknown;
  durationMs: number;
}

/** Every alternate failed; `attempts` says how each one did. */
export class RecoveryBlockFailedError extends SteadfastError {
  constructor(
    readonly block: string,
    readonly attempts: RecoveryAttempt[],
  ) {
    super(
      ErrorCode.RECOVERY_BLOCK_FAILED,
      `${block} failed: ` +
        attempts
          .map((a) => {
            const why = a.outcome === 'threw' ? `threw ${describeError(a.error)}` : a.outcome === 'rejected' ? 'failed the acceptance test' : 'missed its deadline';
            return `${a.name} ${why}`;
          })
          .join('; '),
      { retryable: false, cause: attempts.at(-1)?.error },
    );
  }
}

class DeadlineMissed extends Error {}

const isCheckpointer = (s: unknown): s is CheckpointerLike =>
  typeof (s as CheckpointerLike).checkpointNow === 'function' && typeof (s as CheckpointerLike).restoreFrom === 'function';

/**
 * Randell's recovery block (1975):
 *
 *     ensure <acceptance test> by <primary> else by <alternate 1> … else error
 *
 * Establish a recovery point, run the primary and test its result; on an exception, a failed
 * test or a missed deadline, roll the state back to the recovery point and run the next
 * alternate — a different algorithm for the same job, so a design fault in one need not be
 * in the next. When every alternate fails, the state is rolled back once more and
 * RecoveryBlockFailedError lists every attempt, so an enclosing block can try its own
 * alternate. Unlike retry (the same code again) and fallback (a canned answer, no test),
 * every answer here passes the acceptance test or is not returned.
 *
 * An alternate that misses its deadline is abandoned: its late result is ignored, and the
 * state is restored before the next one runs.
 */
export function recoveryBlock<A extends unknown[], R>(options: RecoveryBlockOptions<A, R>): (...args: A) => Promise<R> {
  const scope = 'recoveryBlock';
  if (options === undefined) throw new InvalidOptionError(`${scope}: options { ensure, by } are required`);
  const o = checkOptions<RecoveryBlockOptions<A, R>>(scope, options, ['ensure', 'by', 'state', 'deadlineMs', 'name', 'clock']);
  const ensure = checkFunction<(result: R, ...args: A) => boolean | Promise<boolean>>(scope, 'ensure', o.ensure);
  if (!Array.isArray(o.by) || o.by.length === 0) throw new InvalidOptionError(`${scope}: by must be a non-empty array [primary, ...alternates]`);
  o.by.forEach((f, i) => checkFunction(scope, `by[${i}]`, f));
  const alternates = [...o.by];
  const deadlineMs = o.deadlineMs === undefined ? undefined : checkNumber(scope, 'deadlineMs', o.deadlineMs, { min: 0, minExclusive: true });
  const name = checkString(scope, 'name', o.name ?? 'recovery block');
  if (o.clock !== undefined) checkClock(scope, o.clock);
  const clock = o.clock ?? systemClock;
  let state: RecoveryState<unknown> | undefined;
  if (o.state !== undefined) {
    if (isCheckpointer(o.state)) {
      const cp = o.state;
      state = { capture: async () => (await cp.checkpointNow()).id, restore: async (id) => void (await cp.restoreFrom(id as number)) };
    } else if (typeof o.state.capture === 'function' && typeof o.state.restore === 'function') {
      state = o.state;
    } else {
      throw new InvalidOptionError(`${scope}: state must have capture() and restore(point), or be a Checkpointer`);
    }
  }

  const within = <T>(work: Promise<T>): Promise<T> => {
    if (deadlineMs === undefined) return work;
    return new Promise<T>((resolve, reject) => {
      const timer = clock.setTimeout(() => reject(new DeadlineMissed()), deadlineMs);
      work.then(
        (v) => {
          clock.clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clock.clearTimeout(timer);
          reject(e);
        },
      );
    });
  };

  return async (...args: A): Promise<R> => {
    const point = state ? await state.capture() : undefined;
    const attempts: RecoveryAttempt[] = [];
    for (let i = 0; i < alternates.length; i++) {
      const fn = alternates[i]!;
      if (i > 0 && state) await state.restore(point);
      const label = fn.name || (i === 0 ? 'primary' : `alternate ${i}`);
      const started = clock.now();
      try {
        const result = await within(
          (async () => {
            const r = await fn(...args);
            let accepted: boolean;
            try {
              accepted = (await ensure(r, ...args)) === true;
            } catch {
              accepted = false;
            }
            return { r, accepted };
          })(),
        );
        if (result.accepted) return result.r;
        attempts.push({ index: i, name: label, outcome: 'rejected', durationMs: clock.now() - started });
      } catch (error) {
        if (error instanceof DeadlineMissed) attempts.push({ index: i, name: label, outcome: 'deadline', durationMs: clock.now() - started });
        else attempts.push({ index: i, name: label, outcome: 'threw', error, durationMs: clock.now() - started });
      }
    }
    if (state) await state.restore(point);
    throw new RecoveryBlockFailedError(name, attempts);
  };
}
