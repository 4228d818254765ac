import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { Emitter, type Disposable } from '../core/events.js';
import { checkClock, checkInteger, checkOptions } from '../core/options.js';
import type { HealthCheck } from '../detection/health-check.js';
import { Checkpointer } from '../recovery/checkpointer.js';
import type { CheckpointStore } from '../recovery/store.js';
import { RegistryNotFoundError, RegistryPersistenceError, RegistryRestoreError } from './errors.js';
import { KV_LIMITS, KvStore } from './kv.js';
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
import { ErrorCode, InvalidOptionError, SteadfastError } from '../core/errors.js';

export interface EmbeddedRegistryOptions {
  /** Persist services and KV here, so a restarted registry remembers them (use EmbeddedRegistry.open). */
  store?: CheckpointStore;
  /** Checkpoint stream. Default 'registry'. */
  stream?: string;
  /**
   * Bytes of KV keys and values held at most; a write past it is refused (HTTP 413). Default
   * 32 MiB, so that a snapshot (values in base64) fits the checkpoint store's 64 MiB frame.
   */
  maxKvBytes?: number;
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

export interface EmbeddedRegistryEvents {
  /** Saving the registry's state failed: writes are answered with an error until a save succeeds. */
  persistFailed: { error: Error };
  /** Started from an older checkpoint because newer ones are corrupt (they were left in place). */
  restoredOlder: { id: number; skipped: { id: number; reason: string; where: string }[] };
}

interface Snapshot {
  instances: (ServiceInstance & { statuses?: Record<string, CheckStatus> })[];
  kv: { key: string; value: string; flags: number }[];
  /** The index when it was taken (older checkpoints lack it). */
  index?: number;
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
  private readonly events = new Emitter<EmbeddedRegistryEvents>();
  /** The checkpoint that will hold every change made so far (see sync()). */
  private persisted: Promise<void> = Promise.resolve();
  private persistQueued = false;
  private persistFailure: Error | undefined;
  private indexValue = 1;
  private readonly checkpointer: Checkpointer<Snapshot> | undefined;
  private readonly store: CheckpointStore | undefined;
  private readonly stream: string;
  private restoring = false;
  private closed = false;

  constructor(options?: EmbeddedRegistryOptions) {
    const o = checkOptions<EmbeddedRegistryOptions>('EmbeddedRegistry', options, ['store', 'stream', 'maxKvBytes', 'clock']);
    if (o.clock !== undefined) checkClock('EmbeddedRegistry', o.clock);
    this.clock = o.clock ?? systemClock;
    const maxKvBytes = checkInteger('EmbeddedRegistry', 'maxKvBytes', o.maxKvBytes ?? KV_LIMITS.maxTotalBytes, { min: 1024, max: 2 ** 32 });
    this.kv = new KvStore(this.clock, () => this.bump(undefined), maxKvBytes);
    this.store = o.store;
    this.stream = o.stream ?? 'registry';
    if (o.store !== undefined) {
      this.checkpointer = new Checkpointer<Snapshot>({
        store: o.store,
        stream: this.stream,
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

  on<K extends keyof EmbeddedRegistryEvents>(name: K, listener: (e: EmbeddedRegistryEvents[K]) => void): Disposable {
    return this.events.on(name, listener);
  }

  /** Whether changes are persisted (a store was given). */
  get persistent(): boolean {
    return this.checkpointer !== undefined;
  }

  /**
   * Resolves once every change made so far is in a saved checkpoint (at once without a
   * store); rejects with RegistryPersistenceError when that save failed. The HTTP server
   * awaits this before it answers a write, so a 200 means durable. Saves are shared: writes
   * that arrive while one is in flight are all answered by the next (group commit).
   */
  sync(): Promise<void> {
    // After a failed save nothing may change for a while: try again rather than answer with
    // the old failure forever.
    if (this.persistFailure !== undefined && !this.persistQueued && this.checkpointer && !this.closed) this.persistSoon();
    return this.persisted;
  }

  /** The last save's error, while saves are failing. */
  get persistenceError(): Error | undefined {
    return this.persistFailure;
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
    for (const def of instance.checks as (CheckDefinition & { id: string; name: string })[]) this.addCheck(entry, def);
    this.touch(entry);
    for (const rt of entry.checks.values()) rt.hc.start();
    if (!this.restoring) await this.sync();
  }

  /**
   * Adds a check to a registered instance, or replaces the one with the same id (PUT
   * /v1/agent/check/register); the instance's other checks keep their state.
   */
  async registerCheck(instanceId: string, def: CheckDefinition & { id: string }): Promise<void> {
    this.checkOpen();
    const entry = this.entries.get(instanceId);
    if (!entry) throw new RegistryNotFoundError(`unknown service ID ${JSON.stringify(instanceId)}`);
    for (const e of this.entries.values()) {
      if (e !== entry && e.checks.has(def.id)) throw new InvalidOptionError(`EmbeddedRegistry.registerCheck: check ID ${JSON.stringify(def.id)} belongs to service ID ${JSON.stringify(e.instance.id)}`);
    }
    const instance = normalizeInstance('EmbeddedRegistry.registerCheck', { ...entry.instance, checks: [...(entry.instance.checks ?? []).filter((c) => c.id !== def.id), def] });
    const old = entry.checks.get(def.id);
    if (old) this.stopCheck(old);
    entry.instance = instance;
    const rt = this.addCheck(entry, instance.checks!.at(-1) as CheckDefinition & { id: string; name: string });
    this.touch(entry);
    rt.hc.start();
    await this.sync();
  }

  /** Removes one check from its instance (PUT /v1/agent/check/deregister/:id). */
  async deregisterCheck(checkId: string): Promise<void> {
    this.checkOpen();
    for (const entry of this.entries.values()) {
      const rt = entry.checks.get(checkId);
      if (!rt) continue;
      this.stopCheck(rt);
      entry.checks.delete(checkId);
      entry.instance = { ...entry.instance, checks: (entry.instance.checks ?? []).filter((c) => c.id !== checkId) };
      this.touch(entry);
      await this.sync();
      return;
    }
    throw new RegistryNotFoundError(`unknown check ID ${JSON.stringify(checkId)}`);
  }

  async deregister(instanceId: string): Promise<void> {
    this.checkOpen();
    const entry = this.entries.get(instanceId);
    if (!entry) throw new RegistryNotFoundError(`unknown service ID ${JSON.stringify(instanceId)}`);
    this.stopChecks(entry);
    this.entries.delete(instanceId);
    this.unindex(entry.instance);
    this.bump(entry.instance.service);
    await this.sync();
  }

  // A TTL update changes state only when the status flips; the checkpoint it may cause is not
  // waited for (a heartbeat lost in a crash is sent again within the TTL).
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

  /**
   * Restores the newest valid checkpoint. When the store holds checkpoints but none is valid it
   * throws RegistryRestoreError naming them — starting empty would silently forget every
   * service and key, and later saves would bury the evidence. When only newer ones are corrupt
   * it starts from the newest valid one and emits `restoredOlder`. Corrupt files are never
   * deleted (the store's prune keeps them).
   */
  async restore(): Promise<void> {
    if (!this.checkpointer) return;
    const store = this.store!;
    const listed = await store.list(this.stream);
    const where = (id: number): string => store.where?.(this.stream, id) ?? `${this.stream}#${id}`;
    const corrupt = listed.filter((c): c is Extract<typeof c, { valid: false }> => !c.valid);
    const newestValid = [...listed].reverse().find((c) => c.valid);
    if (listed.length > 0 && newestValid === undefined) {
      throw new RegistryRestoreError(
        `EmbeddedRegistry: every checkpoint of the registry is corrupt, so it refuses to start empty: ${corrupt.map((c) => `${where(c.id)} (${c.corrupt})`).join('; ')}. ` +
          'Nothing was deleted. Restore the folder from a backup, or move it away to start with an empty registry.',
      );
    }
    const cp = await this.checkpointer.restore();
    if (!cp) return;
    const skipped = corrupt.filter((c) => c.id > cp.id).map((c) => ({ id: c.id, reason: c.corrupt, where: where(c.id) }));
    if (skipped.length > 0) this.events.emit('restoredOlder', { id: cp.id, skipped });
    this.restoring = true;
    try {
      // The index never goes back across a restart: a lock's ModifyIndex is an election's
      // fencing token, and a token handed out before the restart (its write was acknowledged,
      // so it is in this checkpoint) must stay below every one handed out after.
      if (typeof cp.data.index === 'number' && Number.isSafeInteger(cp.data.index) && cp.data.index > this.indexValue) this.indexValue = cp.data.index;
      this.kv.restore(cp.data.kv);
      for (const saved of cp.data.instances) {
        const { statuses, ...instance } = saved;
        await this.register({
          ...instance,
          checks: (instance.checks ?? []).map((c) => ({ ...c, status: statuses?.[c.id!] ?? c.status })),
        });
      }
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
      if (rt.state.type !== 'ttl') throw new InvalidOptionError(`check ${JSON.stringify(checkId)} is a ${rt.state.type} check; only TTL checks take pass/warn/fail`);
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

  private addCheck(entry: Entry, def: CheckDefinition & { id: string; name: string }): CheckRuntime {
    const { instance } = entry;
    const { hc, type } = healthCheckFor(def, this.clock);
    const rt: CheckRuntime = {
      def,
      hc,
      state: { id: def.id, name: def.name, instanceId: instance.id, service: instance.service, type, status: def.status ?? 'critical', output: '', notes: def.notes ?? '' },
    };
    hc.on('result', ({ output }) => (rt.state.output = output));
    hc.on('change', ({ to, output }) => {
      if (this.entries.get(instance.id) !== entry || entry.checks.get(def.id) !== rt) return;
      rt.state.status = to;
      rt.state.output = output;
      this.armDeregister(entry, rt);
      this.touch(entry);
    });
    entry.checks.set(def.id, rt);
    this.armDeregister(entry, rt);
    return rt;
  }

  private stopCheck(rt: CheckRuntime): void {
    rt.hc.stop();
    if (rt.criticalTimer !== undefined) this.clock.clearTimeout(rt.criticalTimer);
    rt.criticalTimer = undefined;
  }

  private stopChecks(entry: Entry): void {
    for (const rt of entry.checks.values()) this.stopCheck(rt);
  }

  private touch(entry: Entry): void {
    entry.modifyIndex = this.bump(entry.instance.service);
  }

  private bump(service: string | undefined): number {
    this.indexValue++;
    this.changes.emit('change', { service });
    if (this.checkpointer && !this.restoring && !this.closed) this.persistSoon();
    return this.indexValue;
  }

  /**
   * Saves a checkpoint once the change under way is complete: the snapshot is taken in a
   * microtask, after the code that bumped the index has stored what it changed (a snapshot
   * taken inside bump() would miss the very write that caused it).
   */
  private persistSoon(): void {
    if (this.persistQueued) return;
    this.persistQueued = true;
    const cp = this.checkpointer!;
    const p = new Promise<void>((resolve, reject) => {
      queueMicrotask(() => {
        this.persistQueued = false;
        cp.checkpointNow().then(
          () => {
            this.persistFailure = undefined;
            resolve();
          },
          (error: unknown) => {
            const err = new RegistryPersistenceError(`the registry could not save its state, so the change is not durable: ${(error as Error)?.message ?? String(error)}`, error);
            this.persistFailure = err;
            this.events.emit('persistFailed', { error: err });
            reject(err);
          },
        );
      });
    });
    p.catch(() => {}); // reported through sync() and persistFailed; background changes need no waiter
    this.persisted = p;
  }

  private snapshot(): Snapshot {
    return {
      instances: [...this.entries.values()].map((e) => ({
        ...e.instance,
        statuses: Object.fromEntries([...e.checks.values()].map((c) => [c.state.id, c.state.status])),
      })),
      kv: this.kv.snapshot(),
      index: this.indexValue,
    };
  }

  private checkOpen(): void {
    if (this.closed) throw new SteadfastError(ErrorCode.CLOSED, 'EmbeddedRegistry is closed');
  }
}
