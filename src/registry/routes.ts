import type http from 'node:http';
import { httpError } from '../core/errors.js';
import { canonicalKeys, NODE_NAME } from './consul-format.js';
import { parseDuration } from './duration.js';
import type { EmbeddedRegistry } from './embedded.js';
import { RegistryNotFoundError, RegistryValidationError } from './errors.js';
import type { FilterShape } from './filter.js';
import type { KvEntry } from './kv.js';

export type Handler = (req: http.IncomingMessage, url: URL, params: string[], body: () => Promise<Buffer>) => Promise<unknown>;
export interface Route {
  method: string;
  pattern: RegExp;
  write: boolean;
  /** Supports ?index=&wait= blocking. */
  blocking?: boolean;
  /** Supports ?filter=: the shape of one item of the answer (an array, or an object's values). */
  filter?: FilterShape;
  /** `METHOD /v1/path/:arg`, its requests' key in steadfast_registry_requests_total. */
  counted?: string;
  handler: Handler;
}

/** An answer that is not JSON (`?raw`, Prometheus text). */
export class RawResponse {
  constructor(
    readonly status: number,
    readonly contentType: string,
    readonly body: Buffer,
  ) {}
}

const SESSION_FIELDS = ['Name', 'TTL', 'Behavior', 'LockDelay', 'Node', 'Checks', 'NodeChecks', 'ServiceChecks'];

/** Sessions and KV (with locks): Consul's `/v1/session/*` and `/v1/kv/*`. */
export function kvRoutes(r: EmbeddedRegistry, json: (body: () => Promise<Buffer>) => Promise<unknown>): Route[] {
  const kvOut = (e: KvEntry): unknown => ({
    Key: e.key,
    Value: e.value.length ? e.value.toString('base64') : null,
    Flags: e.flags,
    CreateIndex: e.createIndex,
    ModifyIndex: e.modifyIndex,
    LockIndex: e.lockIndex,
    ...(e.session ? { Session: e.session } : {}),
  });
  const uint = (url: URL, name: string): number | undefined => {
    const v = url.searchParams.get(name);
    if (v === null) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 2 ** 53) throw httpError(400, `${name}: must be a non-negative integer, got ${JSON.stringify(v)}`);
    return n;
  };
  const sessionOut = (s: { id: string; name: string; ttlMs: number | undefined; behavior: string; createIndex: number }): unknown => ({
    ID: s.id,
    Name: s.name,
    Node: 'steadfast',
    Behavior: s.behavior,
    TTL: s.ttlMs === undefined ? '' : `${s.ttlMs / 1000}s`,
    LockDelay: 0,
    CreateIndex: s.createIndex,
    ModifyIndex: s.createIndex,
  });
  const kvKey = (p: string): string => {
    if (p.length === 0 || p.length > 512) throw httpError(400, 'key: must be 1–512 characters');
    return p;
  };

  return [
    {
      method: 'PUT',
      pattern: /^\/v1\/session\/create$/,
      write: true,
      handler: async (_q, _u, _p, body) => {
        const raw = (await json(body)) ?? {};
        if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new RegistryValidationError('body', 'Request decode failed: the body must be a JSON object');
        // Consul's decoder takes any case (python-consul sends ttl, name, behavior): a field
        // dropped for its spelling would leave a session that never expires, holding its lock.
        const b = canonicalKeys(raw as Record<string, unknown>, SESSION_FIELDS);
        for (const k of Object.keys(b)) if (!SESSION_FIELDS.includes(k)) throw new RegistryValidationError(k, `${k}: unknown session field (known: ${SESSION_FIELDS.join(', ')})`);
        if (b.Node !== undefined && b.Node !== null && b.Node !== '' && b.Node !== NODE_NAME) throw new RegistryValidationError('Node', `Node: this registry is one node, ${JSON.stringify(NODE_NAME)}; got ${JSON.stringify(b.Node)}`);
        const lockDelay = b.LockDelay;
        if (lockDelay !== undefined && lockDelay !== null && lockDelay !== 0 && (typeof lockDelay !== 'string' || parseDuration(lockDelay) !== 0)) {
          throw new RegistryValidationError('LockDelay', `LockDelay: not supported — a lock an invalidated session held can be taken again at once here; omit it or send "0s" (got ${JSON.stringify(lockDelay)})`);
        }
        const nodeChecks = b.Checks ?? b.NodeChecks ?? [];
        if (!Array.isArray(nodeChecks) || nodeChecks.some((c) => c !== 'serfHealth')) throw new RegistryValidationError('Checks', 'Checks: sessions here are tied to their TTL only; send no checks or ["serfHealth"]');
        if (b.ServiceChecks !== undefined && b.ServiceChecks !== null && (!Array.isArray(b.ServiceChecks) || b.ServiceChecks.length > 0)) throw new RegistryValidationError('ServiceChecks', 'ServiceChecks: not supported; sessions here are tied to their TTL only');
        let ttlMs: number | undefined;
        if (b.TTL !== undefined && b.TTL !== '') {
          ttlMs = typeof b.TTL === 'string' ? parseDuration(b.TTL) : undefined;
          if (ttlMs === undefined || ttlMs < 10 || ttlMs > 86_400_000) throw new RegistryValidationError('TTL', `TTL: invalid session TTL ${JSON.stringify(b.TTL)}; use a duration from 10ms to 24h such as "15s"`);
        }
        const behavior = b.Behavior ?? 'release';
        if (behavior !== 'release' && behavior !== 'delete') throw new RegistryValidationError('Behavior', 'Behavior must be release or delete');
        if (b.Name !== undefined && (typeof b.Name !== 'string' || b.Name.length > 256)) throw new RegistryValidationError('Name', 'Name must be a string');
        const s = r.kv.createSession({ name: (b.Name as string | undefined) ?? '', behavior, ...(ttlMs !== undefined ? { ttlMs } : {}) });
        return { ID: s.id };
      },
    },
    { method: 'PUT', pattern: /^\/v1\/session\/renew\/(.+)$/, write: true, handler: async (_q, _u, [id]) => [sessionOut(r.kv.renewSession(id!))] },
    // Consul answers true also for a session that does not exist (it is gone either way).
    { method: 'PUT', pattern: /^\/v1\/session\/destroy\/(.+)$/, write: true, handler: async (_q, _u, [id]) => (r.kv.destroySession(id!), true) },
    {
      method: 'GET',
      pattern: /^\/v1\/session\/info\/(.+)$/,
      write: false,
      handler: async (_q, _u, [id]) => {
        const s = r.kv.session(id!);
        return s ? [sessionOut(s)] : [];
      },
    },
    { method: 'GET', pattern: /^\/v1\/session\/list$/, write: false, handler: async () => r.kv.listSessions().map(sessionOut) },
    {
      method: 'GET',
      pattern: /^\/v1\/kv\/(.*)$/,
      write: false,
      blocking: true,
      handler: async (_q, u, [key]) => {
        const recurse = u.searchParams.has('recurse');
        if (u.searchParams.has('keys')) {
          const separator = u.searchParams.get('separator') ?? '';
          const keys = new Set<string>();
          for (const e of r.kv.list(key!)) {
            // With a separator, a key deeper than the prefix is listed up to and including the
            // separator's first occurrence after the prefix ("a/b/c" under "a/" is "a/b/").
            const at = separator === '' ? -1 : e.key.indexOf(separator, key!.length);
            keys.add(at === -1 ? e.key : e.key.slice(0, at + separator.length));
          }
          if (keys.size === 0) throw new RegistryNotFoundError(`no keys under ${JSON.stringify(key)}`);
          return [...keys];
        }
        const items = recurse ? r.kv.list(key!) : [r.kv.get(kvKey(key!))].filter((e): e is KvEntry => e !== undefined);
        if (items.length === 0) throw new RegistryNotFoundError(`key ${JSON.stringify(key)} not found`);
        if (u.searchParams.has('raw') && !recurse) return new RawResponse(200, 'application/octet-stream', items[0]!.value);
        return items.map(kvOut);
      },
    },
    {
      method: 'PUT',
      pattern: /^\/v1\/kv\/(.+)$/,
      write: true,
      handler: async (_q, u, [key], body) => {
        const value = await body();
        const flags = uint(u, 'flags');
        const cas = uint(u, 'cas');
        const acquire = u.searchParams.get('acquire') ?? undefined;
        const release = u.searchParams.get('release') ?? undefined;
        return r.kv.put(kvKey(key!), value, { ...(flags !== undefined ? { flags } : {}), ...(cas !== undefined ? { cas } : {}), ...(acquire ? { acquire } : {}), ...(release ? { release } : {}) });
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/v1\/kv\/(.+)$/,
      write: true,
      handler: async (_q, u, [key]) => {
        const cas = uint(u, 'cas');
        return r.kv.delete(kvKey(key!), { recurse: u.searchParams.has('recurse'), ...(cas !== undefined ? { cas } : {}) });
      },
    },
  ];
}
