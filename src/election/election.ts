import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';

export interface ElectionEvents {
  /** This candidate became the leader; `fencingToken` is larger than any earlier leader's. */
  elected: { fencingToken: number };
  /** This candidate is no longer the leader (lease lost, resigned, or could not renew in time). */
  revoked: { reason: string };
  /** A backend call failed; campaigning goes on. */
  error: { error: unknown };
}

/** One candidate's view of a leader election. */
export interface Election {
  readonly name: string;
  readonly candidateId: string;
  readonly isLeader: boolean;
  /** While leader: pass it with every write so resources can fence off stale leaders. */
  readonly fencingToken: number | undefined;
  on<K extends keyof ElectionEvents>(name: K, listener: Listener<ElectionEvents[K]>): Disposable;
  /** Gives up leadership (if held) and stops campaigning. */
  resign(): Promise<void>;
}

/**
 * The shared candidate loop: try to acquire while a follower, renew while the leader, every
 * ttlMs/3. A leader that has not renewed successfully within ttlMs of its last successful
 * renewal's start steps down on its own — it cannot know whether the lease still holds, so it
 * must assume it does not (the clock keeps running even when the backend is unreachable).
 */
export abstract class LeaseCandidate implements Election {
  protected readonly events = new Emitter<ElectionEvents>();
  protected readonly clock: Clock;
  private leader = false;
  private token: number | undefined;
  private timer: TimerHandle | undefined;
  /** Steps down when the lease runs out without a renewal (armed at each election and renewal). */
  private expiry: TimerHandle | undefined;
  private validUntil = 0;
  private stopped = false;
  private busy = false;

  constructor(
    readonly name: string,
    readonly candidateId: string,
    readonly ttlMs: number,
    clock: Clock | undefined,
  ) {
    this.clock = clock ?? systemClock;
  }

  /**
   * A pure read: a lease that ran out is not leadership even before the expiry timer has stepped
   * this candidate down (state changes only in stepDown, driven by timers and renewals).
   */
  get isLeader(): boolean {
    return this.leader && this.clock.now() < this.validUntil;
  }

  get fencingToken(): number | undefined {
    return this.isLeader ? this.token : undefined;
  }

  on<K extends keyof ElectionEvents>(name: K, listener: Listener<ElectionEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  /** Tries to take the lease; resolves with the new fencing token, or undefined if someone else holds it. */
  protected abstract tryAcquire(): Promise<number | undefined>;
  /** Extends the lease held with `token`; false if it is no longer ours. */
  protected abstract tryRenew(token: number): Promise<boolean>;
  /** Releases the lease held with `token` if it is still ours. */
  protected abstract release(token: number): Promise<void>;

  protected start(): void {
    void this.tick();
  }

  async resign(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.disarmExpiry();
    const token = this.token;
    if (this.leader && token !== undefined) {
      this.stepDown('resigned');
      await this.release(token).catch((error: unknown) => this.events.emit('error', { error }));
    }
  }

  private stepDown(reason: string): void {
    if (!this.leader) return;
    this.leader = false;
    this.disarmExpiry();
    this.events.emit('revoked', { reason });
  }

  /** The lease holds until `until`: a leader that has not renewed by then steps down then. */
  private holdUntil(until: number): void {
    this.validUntil = until;
    this.disarmExpiry();
    const t = this.clock.setTimeout(() => {
      this.expiry = undefined;
      if (this.clock.now() >= this.validUntil) this.stepDown('lease expired before it could be renewed');
    }, Math.max(0, until - this.clock.now()));
    t.unref?.();
    this.expiry = t;
  }

  private disarmExpiry(): void {
    if (this.expiry !== undefined) this.clock.clearTimeout(this.expiry);
    this.expiry = undefined;
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.busy) return;
    this.busy = true;
    const started = this.clock.now();
    try {
      if (this.leader && this.token !== undefined) {
        if (started >= this.validUntil) this.stepDown('lease expired before it could be renewed');
        else if (await this.tryRenew(this.token)) {
          if (this.leader) this.holdUntil(started + this.ttlMs);
        }
        else this.stepDown('lease taken over or expired');
      }
      if (!this.leader && !this.stopped) {
        const token = await this.tryAcquire();
        if (token !== undefined && this.stopped) await this.release(token); // resigned meanwhile
        else if (token !== undefined) {
          this.token = token;
          this.leader = true;
          this.holdUntil(started + this.ttlMs);
          this.events.emit('elected', { fencingToken: token });
        }
      }
    } catch (error) {
      this.events.emit('error', { error });
    } finally {
      this.busy = false;
    }
    if (this.stopped) return;
    const t = this.clock.setTimeout(() => void this.tick(), Math.max(1, this.ttlMs / 3));
    t.unref?.();
    this.timer = t;
  }
}
