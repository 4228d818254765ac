import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { Emitter, type Disposable } from '../core/events.js';
import { checkClock, checkOptions } from '../core/options.js';
import type { HealthCheck } from '../detection/health-check.js';
import { Checkpointer } from '../recovery/checkpointer.js';
import type { CheckpointStore } from '../recovery/store.js';
import { RegistryNotFoundError } from './errors.js';
import { KvStore } from './kv.js';
import {
  healthCheckFor,
  normalizeInstance,
  worstStatus,
  type CheckDefinition,
  type CheckState,
  type CheckStatus,
  type InstanceHealth,
  type Registry,
  type ServiceInstance,
} from './registry.js';

export interface EmbeddedRegistryOptions {
  /** Persist services and KV here, so a restarted registry remembers them (use EmbeddedRegistry.open). */
  store?: CheckpointStore;
  /** Checkpoint stream. Default 'registry'. */
  stream?: string;
  clock?: Clock;
}

interface CheckRuntime {
  def: CheckDefinition & { id: string; name: string };
  state: CheckState;
  hc: HealthCheck;
  criticalTimer?: TimerHandle;
}

interface Entry {
  instance: ServiceInstance;
  checks: Map<string, CheckRuntime>;
  createIndex: number;
  modifyIndex: number;
}

interface Snapshot {
  instances: (ServiceInstance & { statuses?: Record<string, CheckStatus> })[];
  kv: { key: string; value: string; flags: number }[];
}

/**
 * The registry in this process: instances, their health checks (run with steadfast/detection,
 * Consul's semantics), watches, and Consul's KV store with sessions. Every change bumps one
 * index, which the HTTP server exposes as X-Consul-Index for blocking queries.
 */
export class EmbeddedRegistry implements Registry {
  readonly kv: KvStore;
  private readonly clock: Clock;
  private readonly entries = new Map<string, Entry>();
  /** Instance ids by service name, so a service's lookup does not scan every instance. */
  private readonly byService = new Map<string, Set<string>>();
  private readonly changes = new Emitter<{ change: { service: string | undefined } }>();
  private indexValue = 1;
  private readonly checkpointer: Checkpointer<Snapshot> | undefined;
  private restoring = false;
  private closed = false;

  constructor(options?: EmbeddedRegistryOptions) {
    const o = checkOptions<EmbeddedRegistryOptions>('EmbeddedRegistry', options, ['store', 'stream', 'clock']);
    if (o.clock !== undefined) checkClock('EmbeddedRegistry', o.clock);
    this.clock = o.clock ?? systemClock;
    this.kv = new KvStore(this.clock, () => this.bump(undefined));
    if (o.store !== undefined) {
      this.checkpointer = new Checkpointer<Snapshot>({
        store: o.store,
        stream: o.stream ?? 'registry',
        snapshot: () => this.snapshot(),
        intervalMs: 0,
        keep: 3,
      });
    }
  }

  /** A registry that first restores what its store remembers. */
  static async open(options: EmbeddedRegistryOptions): Promise<EmbeddedRegistry> {
    const r = new EmbeddedRegistry(options);
    await r.restore();
    return r;
  }

  /** The index of the last change (Consul's X-Consul-Index). */
  get index(): number {
    return this.indexValue;
  }

  /** Resolves when the index passes `since`, or after `timeoutMs` (a blocking query). */
  waitForChange(since: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.indexValue > since || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        sub.dispose();
        this.clock.clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const sub = this.changes.on('change', () => {
        if (this.indexValue > since) done();
      });
      const timer = this.clock.setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async register(input: ServiceInstance): Promise<void> {
    this.checkOpen();
    const instance = normalizeInstance('EmbeddedRegistry.register', input);
    const old = this.entries.get(instance.id);
    if (old) this.stopChecks(old);
    const entry: Entry = { instance, checks: new Map(), createIndex: old?.createIndex ?? this.indexValue + 1, modifyIndex: 0 };
    if (old && old.instance.service !== instance.service) this.unindex(old.instance);
    this.entries.set(instance.id, entry);
    let ids = this.byService.get(instance.service);
    if (!ids) this.byService.set(instance.service, (ids = new Set()));
    ids.add(instance.id);
    for (const def of instance.checks as (CheckDefinition & { id: string; name: string })[]) {
      const initial = def.status ?? 'critical';
      const { hc, type } = healthCheckFor(def, this.clock);
      const rt: CheckRuntime = {
        def,
        hc,
        state: { id: def.id, name: def.name, instanceId: instance.id, service: instance.service, type, status: initial, output: '', notes: def.notes ?? '' },
      };
      hc.on('result', ({ output }) => (rt.state.output = output));
      hc.on('change', ({ to, output }) => {
        if (this.entries.get(instance.id) !== entry) return;
        rt.state.status = to;
        rt.state.output = output;
        this.armDeregister(entry, rt);
        this.touch(entry);
      });
      entry.checks.set(def.id, rt);
      this.armDeregister(entry, rt);
    }
    this.touch(entry);
    for (const rt of entry.checks.values()) rt.hc.start();
  }

  async deregister(instanceId: string): Promise<void> {
    this.checkOpen();
    const entry = this.entries.get(instanceId);
    if (!entry) throw new RegistryNotFoundError(`unknown service ID ${JSON.stringify(instanceId)}`);
    this.stopChecks(entry);
    this.entries.delete(instanceId);
    this.unindex(entry.instance);
    this.bump(entry.instance.service);
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
    return this.instancesNow(service).filter((h) => h.status === 'passing');
  }

  async instances(service: string): Promise<InstanceHealth[]> {
    return this.instancesNow(service);
  }

  async services(): Promise<Record<string, string[]>> {
    const out: Record<string, Set<string>> = {};
    for (const e of this.entries.values()) {
      const tags = (out[e.instance.service] ??= new Set());
      for (const t of e.instance.tags ?? []) tags.add(t);
    }
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v].sort()]));
  }

  watch(service: string, onChange: (healthy: InstanceHealth[]) => void): Disposable {
    let last = '';
    const emit = (): void => {
      const now = this.instancesNow(service).filter((h) => h.status === 'passing');
      const sig = JSON.stringify(now.map((h) => [h.instance.id, h.instance.address, h.instance.port]));
      if (sig === last) return;
      last = sig;
      onChange(now);
    };
    queueMicrotask(emit);
    return this.changes.on('change', (e) => {
      if (e.service === undefined || e.service === service) emit();
    });
  }

  /** Every instance with its checks (for the HTTP API). */
  allInstances(): InstanceHealth[] {
    return [...this.entries.values()].map((e) => this.health(e));
  }

  /** Every check (for the HTTP API). */
  allChecks(): CheckState[] {
    return [...this.entries.values()].flatMap((e) => [...e.checks.values()].map((c) => ({ ...c.state })));
  }

  modifyIndexOf(instanceId: string): { createIndex: number; modifyIndex: number } | undefined {
    const e = this.entries.get(instanceId);
    return e ? { createIndex: e.createIndex, modifyIndex: e.modifyIndex } : undefined;
  }

  /** Saves a checkpoint now (also done after every change when a store is set). */
  async checkpoint(): Promise<void> {
    await this.checkpointer?.checkpointNow();
  }

  async restore(): Promise<void> {
    if (!this.checkpointer) return;
    const cp = await this.checkpointer.restore();
    if (!cp) return;
    this.restoring = true;
    try {
      for (const saved of cp.data.instances) {
        const { statuses, ...instance } = saved;
        await this.register({
          ...instance,
          checks: (instance.checks ?? []).map((c) => ({ ...c, status: statuses?.[c.id!] ?? c.status })),
        });
      }
      this.kv.restore(cp.data.kv);
    } finally {
      this.restoring = false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const e of this.entries.values()) this.stopChecks(e);
    this.kv.close();
    this.changes.emit('change', { service: undefined });
    await this.checkpointer?.stop();
  }

  private instancesNow(service: string): InstanceHealth[] {
    const ids = this.byService.get(service);
    if (!ids) return [];
    const out: InstanceHealth[] = [];
    for (const id of ids) out.push(this.health(this.entries.get(id)!));
    return out;
  }

  private unindex(instance: ServiceInstance): void {
    const ids = this.byService.get(instance.service);
    ids?.delete(instance.id);
    if (ids?.size === 0) this.byService.delete(instance.service);
  }

  private health(e: Entry): InstanceHealth {
    const checks = [...e.checks.values()].map((c) => ({ ...c.state }));
    return { instance: e.instance, checks, status: worstStatus(checks) };
  }

  private ttl(checkId: string): HealthCheck {
    this.checkOpen();
    for (const e of this.entries.values()) {
      const rt = e.checks.get(checkId);
      if (!rt) continue;
      if (rt.state.type !== 'ttl') throw new TypeError(`check ${JSON.stringify(checkId)} is a ${rt.state.type} check; only TTL checks take pass/warn/fail`);
      return rt.hc;
    }
    throw new RegistryNotFoundError(`unknown check ID ${JSON.stringify(checkId)}`);
  }

  private armDeregister(entry: Entry, rt: CheckRuntime): void {
    const after = rt.def.deregisterCriticalAfterMs;
    if (after === undefined) return;
    if (rt.state.status !== 'critical') {
      if (rt.criticalTimer !== undefined) this.clock.clearTimeout(rt.criticalTimer);
      rt.criticalTimer = undefined;
      return;
    }
    if (rt.criticalTimer !== undefined) return;
    const t = this.clock.setTimeout(() => {
      rt.criticalTimer = undefined;
      if (this.entries.get(entry.instance.id) === entry && rt.state.status === 'critical') void this.deregister(entry.instance.id).catch(() => {});
    }, after);
    t.unref?.();
    rt.criticalTimer = t;
  }

  private stopChecks(entry: Entry): void {
    for (const rt of entry.checks.values()) {
      rt.hc.stop();
      if (rt.criticalTimer !== undefined) this.clock.clearTimeout(rt.criticalTimer);
    }
  }

  private touch(entry: Entry): void {
    entry.modifyIndex = this.bump(entry.instance.service);
  }

  private bump(service: string | undefined): number {
    this.indexValue++;
    this.changes.emit('change', { service });
    if (this.checkpointer && !this.restoring && !this.closed) this.checkpointer.checkpointNow().catch(() => {});
    return this.indexValue;
  }

  private snapshot(): Snapshot {
    return {
      instances: [...this.entries.values()].map((e) => ({
        ...e.instance,
        statuses: Object.fromEntries([...e.checks.values()].map((c) => [c.state.id, c.state.status])),
      })),
      kv: this.kv.snapshot(),
    };
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('EmbeddedRegistry is closed');
  }
}
