import { checkInteger, checkNumber, checkOptions } from '../core/options.js';

export interface RestartPolicyOptions {
  /** The first restart waits this long. Default 500. */
  initialDelayMs?: number;
  /** Each crash soon after a start multiplies the wait by this. Default 2. */
  multiplier?: number;
  /** The longest wait. Default 30 000. */
  maxDelayMs?: number;
  /** A process that ran at least this long had recovered: its next crash waits initialDelayMs again. Default 10 000. */
  resetAfterMs?: number;
  /** More than this many crashes within windowMs is a crash loop: no more restarts. Default 5. */
  maxRestarts?: number;
  /** Default 60 000. */
  windowMs?: number;
}

export const RESTART_POLICY_DEFAULTS = Object.freeze({ initialDelayMs: 500, multiplier: 2, maxDelayMs: 30_000, resetAfterMs: 10_000, maxRestarts: 5, windowMs: 60_000 });

export type RestartDecision =
  | { action: 'restart'; delayMs: number; restarts: number }
  | { action: 'give-up'; restarts: number; reason: string };

/**
 * When to start a crashed process again: exponential backoff (systemd's and Kubernetes'
 * CrashLoopBackOff rule) that resets once a start has lasted `resetAfterMs`, and a crash-loop
 * limit — more than `maxRestarts` crashes within `windowMs` and the process stays down, with a
 * reason to report. One policy instance per process; it is given the times (pure, testable).
 */
export class RestartPolicy {
  private readonly o: Required<RestartPolicyOptions>;
  private crashes: number[] = [];
  private delay: number;
  private restarts = 0;

  constructor(options: RestartPolicyOptions = {}) {
    const scope = 'restartPolicy';
    const o = checkOptions<RestartPolicyOptions>(scope, options, Object.keys(RESTART_POLICY_DEFAULTS));
    const d = RESTART_POLICY_DEFAULTS;
    this.o = {
      initialDelayMs: checkInteger(scope, 'initialDelayMs', o.initialDelayMs ?? d.initialDelayMs, { min: 0, max: 3_600_000 }),
      multiplier: checkNumber(scope, 'multiplier', o.multiplier ?? d.multiplier, { min: 1, max: 10 }),
      maxDelayMs: checkInteger(scope, 'maxDelayMs', o.maxDelayMs ?? d.maxDelayMs, { min: 0, max: 3_600_000 }),
      resetAfterMs: checkInteger(scope, 'resetAfterMs', o.resetAfterMs ?? d.resetAfterMs, { min: 0 }),
      maxRestarts: checkInteger(scope, 'maxRestarts', o.maxRestarts ?? d.maxRestarts, { min: 0, max: 1_000_000 }),
      windowMs: checkInteger(scope, 'windowMs', o.windowMs ?? d.windowMs, { min: 1 }),
    };
    this.delay = this.o.initialDelayMs;
  }

  /** A start that lasted from `startedAt` ended (by itself: a crash or an exit) at `exitedAt`. */
  onExit(startedAt: number, exitedAt: number): RestartDecision {
    if (exitedAt - startedAt >= this.o.resetAfterMs) this.delay = this.o.initialDelayMs;
    this.crashes = this.crashes.filter((t) => t > exitedAt - this.o.windowMs);
    this.crashes.push(exitedAt);
    if (this.crashes.length > this.o.maxRestarts) {
      return { action: 'give-up', restarts: this.restarts, reason: `crash loop: ${this.crashes.length} exits within ${this.o.windowMs} ms (maxRestarts ${this.o.maxRestarts}); not restarted again` };
    }
    const delayMs = Math.min(this.delay, this.o.maxDelayMs);
    this.delay = Math.min(this.o.maxDelayMs, Math.max(1, this.delay) * this.o.multiplier);
    this.restarts++;
    return { action: 'restart', delayMs, restarts: this.restarts };
  }
}

export function restartPolicy(options?: RestartPolicyOptions): RestartPolicy {
  return new RestartPolicy(options);
}
