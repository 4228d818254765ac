import type { FaultRecord } from '../chaos/process-chaos.js';
import type { AvailabilityTracker } from '../metrics/availability.js';

export interface LeaderChange {
  at: number;
  leader: string;
  token: number;
}

/** What the incident book reports as it happens (part of DemoEvent). */
export type IncidentEvent =
  | { type: 'fault'; id: number; target: string; kind: string; pid: number; label?: string }
  | { type: 'detected'; id: number; target: string; ms: number }
  | { type: 'restored'; id: number; target: string; ms: number }
  | { type: 'leader'; leader: string; token: number };

interface Open {
  id: number;
  at: number;
  /** The registry took the target out of the healthy set. */
  left: boolean;
  detected: boolean;
  /** The target led the maintenance task when it was faulted. */
  leaderAtFault: string | undefined;
}

/**
 * The demo's open incidents and leadership: a fault opens an incident (recorded in the tracker),
 * the target leaving the healthy set detects it, coming back (or resuming unseen from a short
 * pause) restores it; an election while the faulted leader's incident is open is a failover.
 */
export class IncidentBook {
  readonly leaderChanges: LeaderChange[] = [];
  /**
   * Claims that came with a token no higher than the current leader's: a replica that won, was
   * paused (or cut off) before it said so, and lost its lease meanwhile. The db nodes refuse its
   * writes (they have seen the higher token); it is not a leader change.
   */
  readonly staleClaims: LeaderChange[] = [];
  readonly failovers: { faultId: number; from: string; to: string; ms: number }[] = [];
  private readonly open = new Map<string, Open>();
  /** When the last incident was restored (0: none yet). */
  lastRestoredAt = 0;
  private tracker: AvailabilityTracker | undefined;

  constructor(private readonly emit: (e: IncidentEvent) => void) {}

  /** Faults are recorded from the start of the measured run. */
  attach(tracker: AvailabilityTracker): void {
    this.tracker = tracker;
  }

  /** Incidents not yet restored. */
  get openCount(): number {
    return this.open.size;
  }

  /** Whether `target` has an incident not yet restored. */
  isOpen(target: string): boolean {
    return this.open.has(target);
  }

  get leader(): string | undefined {
    return this.leaderChanges.at(-1)?.leader;
  }

  /** A fault on `rec.target` (a process fault, or one target of a network fault — `label` says what was done). */
  fault(rec: Pick<FaultRecord, 'at' | 'target' | 'pid'> & { id?: number; kind: string }, label?: string): void {
    if (!this.tracker) return;
    const id = this.tracker.recordFault(rec.target, rec.kind, rec.at);
    this.open.set(rec.target, { id, at: rec.at, left: false, detected: false, leaderAtFault: this.leader === rec.target ? rec.target : undefined });
    this.emit({ type: 'fault', id, target: rec.target, kind: rec.kind, pid: rec.pid, ...(label ? { label } : {}) });
  }

  /** `target` left the healthy set at `at`. */
  left(target: string, at: number): void {
    const inc = this.open.get(target);
    if (!inc || inc.left) return;
    inc.left = true;
    if (inc.detected) return;
    inc.detected = true;
    this.tracker?.recordDetection(inc.id, at);
    this.emit({ type: 'detected', id: inc.id, target, ms: at - inc.at });
  }

  /** `target` joined the healthy set at `at`. */
  back(target: string, at: number): void {
    const inc = this.open.get(target);
    if (inc && inc.left) this.restore(target, inc, at);
  }

  /**
   * `target` resumed from a pause: shorter than the registry can see, it never left the healthy
   * set, so it is whole again now (the incident stays undetected — masked).
   */
  resumed(target: string, at: number): void {
    const inc = this.open.get(target);
    if (inc && !inc.left) this.restore(target, inc, at);
  }

  elected(leader: string, token: number, at: number): void {
    const prev = this.leaderChanges.at(-1);
    if (prev && token <= prev.token) return void this.staleClaims.push({ at, leader, token });
    this.leaderChanges.push({ at, leader, token });
    this.emit({ type: 'leader', leader, token });
    // A fault on the leader: how long until someone else led?
    for (const inc of this.open.values()) {
      if (inc.leaderAtFault !== undefined && prev && prev.leader === inc.leaderAtFault && leader !== inc.leaderAtFault && !this.failovers.some((f) => f.faultId === inc.id)) {
        this.failovers.push({ faultId: inc.id, from: inc.leaderAtFault, to: leader, ms: at - inc.at });
      }
    }
  }

  private restore(target: string, inc: Open, at: number): void {
    this.open.delete(target);
    this.lastRestoredAt = Math.max(this.lastRestoredAt, at);
    this.tracker?.recordRestore(inc.id, at);
    this.emit({ type: 'restored', id: inc.id, target, ms: at - inc.at });
  }
}
