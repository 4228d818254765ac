import { ErrorCode, SteadfastError } from '../core/errors.js';
import { undici } from '../core/packages.js';
import type { Clock } from '../core/clock.js';
import { LeaseCandidate } from './election.js';

interface KvEntry {
  ModifyIndex: number;
  LockIndex: number;
  Session?: string;
}

/**
 * Leader election over Consul's HTTP API — a real Consul agent or steadfast's RegistryServer:
 * the lease is a session with a TTL (behavior `release`), leadership is the key
 * `<prefix><name>` acquired with that session, and the fencing token is the key's ModifyIndex
 * at acquisition (Raft's index in Consul: every later acquisition has a larger one, even if the
 * key was deleted in between). Consul's own leader-election guide, with fencing added.
 *
 * Note: a real Consul agent accepts session TTLs from 10 s to 24 h and, after a session is
 * invalidated, holds the lock for `LockDelay` (15 s by default) — failover takes that long there.
 */
export class ConsulElection extends LeaseCandidate {
  private session: string | undefined;
  private readonly key: string;

  constructor(
    name: string,
    candidateId: string,
    ttlMs: number,
    private readonly url: string,
    private readonly aclToken: string | undefined,
    prefix: string,
    clock?: Clock,
  ) {
    super(name, candidateId, ttlMs, clock);
    this.key = `${prefix}${name}`.replace(/^\/+/, '');
    this.start();
  }

  private async call(method: 'GET' | 'PUT', path: string, body?: string): Promise<{ status: number; text: string }> {
    const res = await undici().request(`${this.url}${path}`, {
      method,
      headers: { ...(this.aclToken ? { 'x-consul-token': this.aclToken } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body } : {}),
      headersTimeout: Math.max(500, this.ttlMs / 3),
      bodyTimeout: Math.max(500, this.ttlMs / 3),
    });
    const text = await res.body.text();
    if (res.statusCode >= 500) throw new SteadfastError(ErrorCode.REMOTE_ERROR, `consul election: ${method} ${path} answered ${res.statusCode}: ${text.slice(0, 200)}`, { retryable: true });
    return { status: res.statusCode, text };
  }

  private async entry(): Promise<KvEntry | undefined> {
    const r = await this.call('GET', `/v1/kv/${this.key}`);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new SteadfastError(ErrorCode.REMOTE_ERROR, `consul election: reading ${this.key} answered ${r.status}: ${r.text.slice(0, 200)}`, { retryable: true });
    return (JSON.parse(r.text) as KvEntry[])[0];
  }

  protected async tryAcquire(): Promise<number | undefined> {
    if (this.session === undefined) {
      const ttl = `${Math.max(10, Math.round(this.ttlMs))}ms`;
      const r = await this.call('PUT', '/v1/session/create', JSON.stringify({ Name: `steadfast election ${this.name} ${this.candidateId}`, TTL: ttl, Behavior: 'release', LockDelay: '0s' }));
      if (r.status !== 200) throw new SteadfastError(ErrorCode.REMOTE_ERROR, `consul election: creating a session answered ${r.status}: ${r.text.slice(0, 200)}`, { retryable: true });
      this.session = (JSON.parse(r.text) as { ID: string }).ID;
    } else {
      // Keep the session alive while waiting for the lock.
      const renew = await this.call('PUT', `/v1/session/renew/${this.session}`);
      if (renew.status !== 200) {
        this.session = undefined;
        return undefined;
      }
    }
    const r = await this.call('PUT', `/v1/kv/${this.key}?acquire=${encodeURIComponent(this.session)}`, JSON.stringify({ leader: this.candidateId }));
    if (r.status !== 200) {
      this.session = undefined; // the session was invalidated meanwhile; make a new one next time
      return undefined;
    }
    if (r.text.trim() !== 'true') return undefined;
    const e = await this.entry();
    if (!e || e.Session !== this.session) return undefined;
    return e.ModifyIndex;
  }

  protected async tryRenew(token: number): Promise<boolean> {
    if (this.session === undefined) return false;
    const r = await this.call('PUT', `/v1/session/renew/${this.session}`);
    if (r.status !== 200) {
      this.session = undefined;
      return false;
    }
    const e = await this.entry();
    return e !== undefined && e.Session === this.session && e.ModifyIndex === token;
  }

  protected async release(): Promise<void> {
    const session = this.session;
    if (session === undefined) return;
    this.session = undefined;
    await this.call('PUT', `/v1/kv/${this.key}?release=${encodeURIComponent(session)}`, JSON.stringify({ leader: null }));
    await this.call('PUT', `/v1/session/destroy/${session}`);
  }
}
