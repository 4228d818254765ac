import type { Etcd3, Lease, Watcher } from 'etcd3';
import { loadPackage } from '../core/packages.js';
import { Emitter, type Disposable } from '../core/events.js';
import { checkInteger, checkOptions, checkString } from '../core/options.js';
import { HealthCheck } from '../detection/health-check.js';
import { RegistryNotFoundError } from './errors.js';
import { healthCheckFor, normalizeInstance, worstStatus, type CheckDefinition, type CheckState, type InstanceHealth, type Registry, type ServiceInstance } from './registry.js';
import { InvalidOptionError } from '../core/errors.js';

export interface EtcdRegistryOptions {
  /** etcd client URLs, e.g. ['http://127.0.0.1:2379']. */
  endpoints: string[];
  /** Key prefix. Default '/steadfast/registry/'. */
  prefix?: string;
  /**
   * Lease TTL of each registration: when the registering process dies, etcd drops its
   * instances this long after its last keepalive. Rounded up to whole seconds (etcd's unit).
   * Default 10 000.
   */
  ttlMs?: number;
}

export const ETCD_REGISTRY_DEFAULTS = Object.freeze({ prefix: '/steadfast/registry/', ttlMs: 10_000 });

interface StoredInstance {
  instance: ServiceInstance;
  checks: CheckState[];
}

interface Local {
  instance: ServiceInstance;
  lease: Lease | undefined;
  checks: Map<string, { hc: HealthCheck; state: CheckState }>;
  writing: Promise<void>;
  closed: boolean;
}

/**
 * A Registry on etcd: each instance is a key under `<prefix><service>/<id>` attached to a
 * lease whose keepalive is the heartbeat — when the process dies, etcd removes the instance
 * once the lease expires. Checks run in the registering process (with steadfast/detection) and
 * their status is written into the key. If the lease is lost (etcd restarted without its data,
 * a long partition) the registry grants a new one and registers again.
 */
export class EtcdRegistry implements Registry {
  readonly client: Etcd3;
  readonly prefix: string;
  readonly ttlSeconds: number;
  private readonly local = new Map<string, Local>();
  private readonly events = new Emitter<{ reregistered: { id: string }; error: { error: unknown } }>();
  private closed = false;

  constructor(options: EtcdRegistryOptions) {
    const scope = 'EtcdRegistry';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { endpoints } are required`);
    const o = checkOptions<EtcdRegistryOptions>(scope, options, ['endpoints', 'prefix', 'ttlMs']);
    if (!Array.isArray(o.endpoints) || o.endpoints.length === 0 || o.endpoints.some((e) => typeof e !== 'string' || !/^https?:\/\//.test(e))) {
      throw new InvalidOptionError(`${scope}: endpoints must be a non-empty array of http:// URLs, got ${JSON.stringify(o.endpoints)}`);
    }
    this.prefix = checkString(scope, 'prefix', o.prefix ?? ETCD_REGISTRY_DEFAULTS.prefix);
    this.ttlSeconds = Math.ceil(checkInteger(scope, 'ttlMs', o.ttlMs ?? ETCD_REGISTRY_DEFAULTS.ttlMs, { min: 1000, max: 86_400_000 }) / 1000);
    this.client = new (loadPackage<typeof import('etcd3')>('etcd3', 'EtcdRegistry').Etcd3)({ hosts: o.endpoints });
  }

  /** `reregistered` after a lost lease was replaced; `error` for background failures. */
  on<K extends 'reregistered' | 'error'>(name: K, listener: (e: K extends 'reregistered' ? { id: string } : { error: unknown }) => void): Disposable {
    return this.events.on(name, listener as never);
  }

  private key(service: string, id: string): string {
    return `${this.prefix}${service}/${id}`;
  }

  async register(input: ServiceInstance): Promise<void> {
    const instance = normalizeInstance('EtcdRegistry.register', input);
    const old = this.local.get(instance.id);
    if (old) await this.drop(old, true);
    const entry: Local = { instance, lease: undefined, checks: new Map(), writing: Promise.resolve(), closed: false };
    for (const def of instance.checks as (CheckDefinition & { id: string; name: string })[]) {
      const { hc, type } = healthCheckFor(def);
      const state: CheckState = { id: def.id, name: def.name, instanceId: instance.id, service: instance.service, type, status: hc.status, output: '', notes: def.notes ?? '' };
      hc.on('change', ({ to, output }) => {
        state.status = to;
        state.output = output;
        void this.write(entry).catch((error: unknown) => this.events.emit('error', { error }));
      });
      entry.checks.set(def.id, { hc, state });
    }
    this.local.set(instance.id, entry);
    await this.grantAndWrite(entry);
    for (const c of entry.checks.values()) c.hc.start();
  }

  async deregister(instanceId: string): Promise<void> {
    const entry = this.local.get(instanceId);
    if (entry) {
      await this.drop(entry, true);
      this.local.delete(instanceId);
      return;
    }
    // Registered by another process: delete its key.
    const all = await this.readAll();
    const found = all.find((s) => s.instance.id === instanceId);
    if (!found) throw new RegistryNotFoundError(`unknown service ID ${JSON.stringify(instanceId)}`);
    await this.client.delete().key(this.key(found.instance.service, instanceId));
  }

  async pass(checkId: string, note = ''): Promise<void> {
    this.ttl(checkId).pass(note);
  }
  async warn(checkId: string, note = ''): Promise<void> {
    this.ttl(checkId).warn(note);
  }
  async fail(checkId: string, note = ''): Promise<void> {
    this.ttl(checkId).fail(note);
  }

  async healthy(service: string): Promise<InstanceHealth[]> {
    return (await this.instances(service)).filter((h) => h.status === 'passing');
  }

  async instances(service: string): Promise<InstanceHealth[]> {
    const items = await this.client.getAll().prefix(`${this.prefix}${service}/`).strings();
    return Object.values(items)
      .map((v) => JSON.parse(v) as StoredInstance)
      .sort((a, b) => (a.instance.id < b.instance.id ? -1 : 1))
      .map((s) => ({ instance: s.instance, checks: s.checks, status: worstStatus(s.checks) }));
  }

  async services(): Promise<Record<string, string[]>> {
    const out: Record<string, Set<string>> = {};
    for (const s of await this.readAll()) {
      const tags = (out[s.instance.service] ??= new Set());
      for (const t of s.instance.tags ?? []) tags.add(t);
    }
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v].sort()]));
  }

  watch(service: string, onChange: (healthy: InstanceHealth[]) => void): Disposable {
    let last = '';
    let disposed = false;
    let watcher: Watcher | undefined;
    const emit = async (): Promise<void> => {
      if (disposed) return;
      const now = await this.healthy(service);
      const sig = JSON.stringify(now.map((h) => [h.instance.id, h.instance.address, h.instance.port]));
      if (sig === last || disposed) return;
      last = sig;
      onChange(now);
    };
    void (async () => {
      try {
        watcher = await this.client.watch().prefix(`${this.prefix}${service}/`).create();
        if (disposed) return void watcher.cancel();
        watcher.on('data', () => void emit().catch(() => {}));
        watcher.on('connected', () => void emit().catch(() => {}));
        await emit();
      } catch (error) {
        this.events.emit('error', { error });
      }
    })();
    return {
      dispose: () => {
        disposed = true;
        void watcher?.cancel();
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.local.values()) await this.drop(entry, true).catch(() => {});
    this.local.clear();
    this.client.close();
  }

  private ttl(checkId: string): HealthCheck {
    for (const e of this.local.values()) {
      const c = e.checks.get(checkId);
      if (!c) continue;
      if (c.state.type !== 'ttl') throw new InvalidOptionError(`check ${JSON.stringify(checkId)} is a ${c.state.type} check; only TTL checks take pass/warn/fail`);
      return c.hc;
    }
    throw new RegistryNotFoundError(`unknown check ID ${JSON.stringify(checkId)} (an etcd registry updates only the checks it registered)`);
  }

  private async grantAndWrite(entry: Local): Promise<void> {
    const lease = this.client.lease(this.ttlSeconds, { autoKeepAlive: true });
    entry.lease = lease;
    lease.on('lost', () => {
      if (entry.closed || this.closed || entry.lease !== lease) return;
      void this.reregister(entry);
    });
    await this.write(entry);
  }

  /** Grants a new lease and writes the instance again, retrying until etcd answers. */
  private async reregister(entry: Local): Promise<void> {
    for (let delay = 100; !entry.closed && !this.closed; delay = Math.min(delay * 2, 2000)) {
      try {
        await this.grantAndWrite(entry);
        this.events.emit('reregistered', { id: entry.instance.id });
        return;
      } catch (error) {
        this.events.emit('error', { error });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private write(entry: Local): Promise<void> {
    // Writes of one instance go in order, so a stale status never overwrites a newer one.
    entry.writing = entry.writing
      .catch(() => {})
      .then(async () => {
        if (entry.closed || !entry.lease) return;
        const value: StoredInstance = { instance: entry.instance, checks: [...entry.checks.values()].map((c) => ({ ...c.state })) };
        await entry.lease.put(this.key(entry.instance.service, entry.instance.id)).value(JSON.stringify(value));
      });
    return entry.writing;
  }

  private async drop(entry: Local, revoke: boolean): Promise<void> {
    entry.closed = true;
    for (const c of entry.checks.values()) c.hc.stop();
    await entry.writing.catch(() => {});
    if (revoke && entry.lease) await entry.lease.revoke().catch(() => this.client.delete().key(this.key(entry.instance.service, entry.instance.id)).catch(() => {}));
  }

  private async readAll(): Promise<StoredInstance[]> {
    const items = await this.client.getAll().prefix(this.prefix).strings();
    return Object.values(items).map((v) => JSON.parse(v) as StoredInstance);
  }
}

