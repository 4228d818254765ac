/**
 * A retry budget (Finagle's RetryBudget, Envoy's retry_budget, Linkerd's): retries may add at
 * most `ratio` of extra load, plus a floor of `minPerSec` retries per second that is always
 * allowed, so a lone caller can still retry while a sick cluster is not buried in retries.
 *
 * Pure arithmetic on the times it is given — no clock, no timer — so its rules are tested from a
 * table. Each request deposits `ratio` of a retry; time deposits `minPerSec` per second; a retry
 * withdraws one whole token. The balance never exceeds `cap`: the floor's worth (at least 10)
 * plus what 1000 requests earn, so a quiet hour does not bank a storm of retries.
 */
export class RetryBudget {
  readonly cap: number;
  private balance: number;
  private at: number;

  constructor(
    readonly ratio: number,
    readonly minPerSec: number,
    /** Clock time the budget starts at (it starts with one second of the floor). */
    now: number,
  ) {
    this.cap = Math.max(minPerSec, 10) + 1000 * ratio;
    this.balance = minPerSec;
    this.at = now;
  }

  /** A request was sent: it earns `ratio` of a retry. */
  deposit(): void {
    this.balance = Math.min(this.balance + this.ratio, this.cap);
  }

  /** May one retry go out at `now`? Takes its token if so. */
  withdraw(now: number): boolean {
    if (now > this.at) {
      this.balance = Math.min(this.balance + ((now - this.at) / 1000) * this.minPerSec, this.cap);
      this.at = now;
    }
    if (this.balance < 1) return false;
    this.balance -= 1;
    return true;
  }

  /** Retries that could go out now (for stats and tests). */
  get available(): number {
    return Math.floor(this.balance);
  }
}
