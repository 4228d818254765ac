import type { Clock, TimerHandle } from '../core/clock.js';
import { RegistryFullError, RegistryNotFoundError, RegistryValidationError } from './errors.js';

export interface KvEntry {
  key: string;
  value: Buffer;
  flags: number;
  createIndex: number;
  modifyIndex: number;
  lockIndex: number;
  session: string | undefined;
}

export interface Session {
  id: string;
  name: string;
  ttlMs: number | undefined;
  /** What happens to the keys it holds when it ends. */
  behavior: 'release' | 'delete';
  createIndex: number;
}

export interface PutOptions {
  flags?: number;
  /** Write only if the key's modifyIndex is this (0: only if the key does not exist). */
  cas?: number;
  /** Take the lock with this session (fails if another session holds it). */
  acquire?: string;
  /** Give up the lock held by this session. */
  release?: string;
}

/**
 * Limits that keep one client from exhausting the registry. `maxTotalBytes` (keys and values)
 * keeps every snapshot well inside the checkpoint store's 64 MiB frame (values are stored as
 * base64, 4/3 larger): a write that would pass it is refused, never acknowledged and dropped.
 */
export const KV_LIMITS = Object.freeze({ maxKeys: 100_000, maxValueBytes: 512 * 1024, maxSessions: 10_000, maxTotalBytes: 32 * 1024 * 1024 });

/**
 * Consul's KV store with sessions: locks are keys acquired by a session; when the session is
 * destroyed or its TTL runs out, its locks are released (or its keys deleted). Indexes come from
 * the registry's single counter, so blocking queries see KV and health changes alike.
 */
export class KvStore {
  private readonly entries = new Map<string, KvEntry>();
  private readonly sessions = new Map<string, Session & { timer?: TimerHandle }>();
  /** Bytes of every key and value held, for KV_LIMITS.maxTotalBytes. */
  private totalBytes = 0;

  constructor(
    private readonly clock: Clock,
    /** Bumps and returns the registry's index. */
    private readonly bump: () => number,
    /** Bytes of keys and values it may hold (KV_LIMITS.maxTotalBytes by default). */
    private readonly maxTotalBytes: number = KV_LIMITS.maxTotalBytes,
  ) {}

  get(key: string): KvEntry | undefined {
    return this.entries.get(key);
  }

  list(prefix: string): KvEntry[] {
    return [...this.entries.values()].filter((e) => e.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  keys(): number {
    return this.entries.size;
  }

  /** Bytes of keys and values held. */
  bytes(): number {
    return this.totalBytes;
  }

  put(key: string, value: Buffer, options: PutOptions = {}): boolean {
    // Consul answers 413 "Value exceeds 524288 byte limit" too.
    if (value.length > KV_LIMITS.maxValueBytes) throw new RegistryFullError('value', `value of ${value.length} bytes exceeds the ${KV_LIMITS.maxValueBytes}-byte limit`);
    const existing = this.entries.get(key);
    if (!existing && this.entries.size >= KV_LIMITS.maxKeys) throw new RegistryFullError('key', `the store holds ${KV_LIMITS.maxKeys} keys, its limit; delete keys first`);
    const size = Buffer.byteLength(key) + value.length;
    const after = this.totalBytes - (existing ? Buffer.byteLength(existing.key) + existing.value.length : 0) + size;
    if (after > this.maxTotalBytes) {
      throw new RegistryFullError('value', `the KV store would hold ${after} bytes, over its limit of ${this.maxTotalBytes} (what the registry can persist); delete keys or store less`);
    }
    if (options.cas !== undefined) {
      if (options.cas === 0 ? existing !== undefined : existing?.modifyIndex !== options.cas) return false;
    }
    let session = existing?.session;
    let lockIndex = existing?.lockIndex ?? 0;
    if (options.acquire !== undefined) {
      if (!this.sessions.has(options.acquire)) throw new RegistryValidationError('acquire', `invalid session ${JSON.stringify(options.acquire)}`);
      if (session !== undefined && session !== options.acquire) return false;
      if (session === undefined) lockIndex++;
      session = options.acquire;
    } else if (options.release !== undefined) {
      if (session !== options.release) return false;
      session = undefined;
    }
    const index = this.bump();
    this.totalBytes = after;
    this.entries.set(key, {
      key,
      value,
      flags: options.flags ?? existing?.flags ?? 0,
      createIndex: existing?.createIndex ?? index,
      modifyIndex: index,
      lockIndex,
      session,
    });
    return true;
  }

  delete(key: string, { recurse = false, cas }: { recurse?: boolean; cas?: number } = {}): boolean {
    if (cas !== undefined) {
      const e = this.entries.get(key);
      if (!e || e.modifyIndex !== cas) return false;
    }
    const doomed = recurse ? this.list(key).map((e) => e.key) : this.entries.has(key) ? [key] : [];
    for (const k of doomed) this.forget(k);
    if (doomed.length > 0) this.bump();
    return true;
  }

  createSession(options: { name?: string; ttlMs?: number; behavior?: 'release' | 'delete' } = {}): Session {
    if (this.sessions.size >= KV_LIMITS.maxSessions) throw new RegistryValidationError('session', `${KV_LIMITS.maxSessions} sessions exist, the limit`);
    const session = {
      id: globalThis.crypto.randomUUID(),
      name: options.name ?? '',
      ttlMs: options.ttlMs,
      behavior: options.behavior ?? 'release',
      createIndex: this.bump(),
    };
    this.sessions.set(session.id, session);
    this.armSession(session.id);
    return this.publicSession(session.id)!;
  }

  session(id: string): Session | undefined {
    return this.publicSession(id);
  }

  listSessions(): Session[] {
    return [...this.sessions.keys()].map((id) => this.publicSession(id)!);
  }

  renewSession(id: string): Session {
    if (!this.sessions.has(id)) throw new RegistryNotFoundError(`session ${JSON.stringify(id)} not found`);
    this.armSession(id);
    return this.publicSession(id)!;
  }

  destroySession(id: string): boolean {
    const s = this.sessions.get(id);
    if (!s) return false;
    if (s.timer !== undefined) this.clock.clearTimeout(s.timer);
    this.sessions.delete(id);
    const index = this.bump();
    for (const e of [...this.entries.values()]) {
      if (e.session !== id) continue;
      if (s.behavior === 'delete') this.forget(e.key);
      else {
        e.session = undefined;
        e.modifyIndex = index;
      }
    }
    return true;
  }

  /** Everything, for checkpoints (sessions and locks do not survive a restart). */
  snapshot(): { key: string; value: string; flags: number }[] {
    return [...this.entries.values()].map((e) => ({ key: e.key, value: e.value.toString('base64'), flags: e.flags }));
  }

  restore(items: { key: string; value: string; flags: number }[]): void {
    for (const i of items) this.put(i.key, Buffer.from(i.value, 'base64'), { flags: i.flags });
  }

  close(): void {
    for (const s of this.sessions.values()) if (s.timer !== undefined) this.clock.clearTimeout(s.timer);
  }

  private forget(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.totalBytes -= Buffer.byteLength(e.key) + e.value.length;
    this.entries.delete(key);
  }

  private armSession(id: string): void {
    const s = this.sessions.get(id)!;
    if (s.timer !== undefined) this.clock.clearTimeout(s.timer);
    if (s.ttlMs === undefined) return;
    const t = this.clock.setTimeout(() => this.destroySession(id), s.ttlMs);
    t.unref?.();
    s.timer = t;
  }

  private publicSession(id: string): Session | undefined {
    const s = this.sessions.get(id);
    if (!s) return undefined;
    return { id: s.id, name: s.name, ttlMs: s.ttlMs, behavior: s.behavior, createIndex: s.createIndex };
  }
}
