import type { Clock } from '../core/clock.js';
import { LeaseCandidate } from './election.js';

interface Lease {
  holder: string;
  token: number;
  expiresAt: number;
}

/** Leases of in-process elections; share one between candidates that compete. */
export class EmbeddedLeases {
  private readonly leases = new Map<string, Lease>();
  private readonly tokens = new Map<string, number>();

  acquire(name: string, holder: string, ttlMs: number, now: number): number | undefined {
    const cur = this.leases.get(name);
    if (cur && cur.expiresAt > now) return undefined;
    const token = (this.tokens.get(name) ?? 0) + 1;
    this.tokens.set(name, token);
    this.leases.set(name, { holder, token, expiresAt: now + ttlMs });
    return token;
  }

  renew(name: string, holder: string, token: number, ttlMs: number, now: number): boolean {
    const cur = this.leases.get(name);
    if (!cur || cur.holder !== holder || cur.token !== token || cur.expiresAt <= now) return false;
    cur.expiresAt = now + ttlMs;
    return true;
  }

  release(name: string, holder: string, token: number): void {
    const cur = this.leases.get(name);
    if (cur && cur.holder === holder && cur.token === token) this.leases.delete(name);
  }

  leader(name: string, now: number): string | undefined {
    const cur = this.leases.get(name);
    return cur && cur.expiresAt > now ? cur.holder : undefined;
  }
}

/** The process-wide default for `backend: 'embedded'`. */
export const defaultEmbeddedLeases = new EmbeddedLeases();

export class EmbeddedElection extends LeaseCandidate {
  constructor(
    name: string,
    candidateId: string,
    ttlMs: number,
    private readonly leases: EmbeddedLeases,
    clock?: Clock,
  ) {
    super(name, candidateId, ttlMs, clock);
    this.start();
  }
  protected async tryAcquire(): Promise<number | undefined> {
    return this.leases.acquire(this.name, this.candidateId, this.ttlMs, this.clock.now());
  }
  protected async tryRenew(token: number): Promise<boolean> {
    return this.leases.renew(this.name, this.candidateId, token, this.ttlMs, this.clock.now());
  }
  protected async release(token: number): Promise<void> {
    this.leases.release(this.name, this.candidateId, token);
  }
}
