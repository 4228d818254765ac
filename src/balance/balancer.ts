import { systemClock, type Clock } from '../core/clock.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkClock, checkFunction, checkInteger, checkNumber, checkOneOf, checkOptions, checkString } from '../core/options.js';
import type { Random } from '../core/random.js';
import { BoundedLoadRing } from '../hashing/bounded-load.js';
import type { InstanceHealth, Registry } from '../registry/registry.js';
import { InvalidOptionError } from '../core/errors.js';

export interface Endpoint {
  /** Unique id (the registry instance id, or the URL). */
  id: string;
  /** Base URL, e.g. http://127.0.0.1:8081 */
  url: string;
}

export type Strategy = 'round-robin' | 'least-outstanding' | 'p2c' | 'consistent-hash';

export interface OutlierOptions {
  /** Eject after this many failures in a row (Envoy's consecutive_5xx). Default 5. */
  consecutiveFailures?: number;
  /** First ejection lasts this long; the n-th lasts n times as long (Envoy's base_ejection_time). Default 5000. */
  baseEjectionMs?: number;
  /** Longest ejection. Default 60 000. */
  maxEjectionMs?: number;
  /** Never eject more than this share of the endpoints (Envoy's max_ejection_percent). Default 0.5. */
  maxEjectionRatio?: number;
  /**
   * An upstream that shed a request (429/503 with Retry-After) goes to the back of preference
   * lists for that long, at most this. Default 30 000.
   */
  maxRetryAfterMs?: number;
}

export interface BalancerOptions {
  /** Healthy instances come from this registry's watch of `service`… */
  registry?: Registry;
  service?: string;
  /** …or from a static list of URLs. */
  instances?: (string | Endpoint)[];
  /** Default 'p2c' (power of two choices on requests in flight). */
  strategy?: Strategy;
  /** consistent-hash: the bounded-load factor (see BoundedLoadRing). Default 1.25. */
  loadFactor?: number;
  /** Passive health: eject endpoints that keep failing. */
  outlier?: OutlierOptions;
  clock?: Clock;
  random?: Random;
}

export const BALANCER_DEFAULTS = Object.freeze({ strategy: 'p2c' as Strategy, loadFactor: 1.25, ringVnodes: 256 });

export const OUTLIER_DEFAULTS = Object.freeze({ consecutiveFailures: 5, baseEjectionMs: 5000, maxEjectionMs: 60_000, maxEjectionRatio: 0.5, maxRetryAfterMs: 30_000 });

export interface BalancerEvents {
  /** The set of endpoints (from the registry or the list) changed. */
  endpoints: { endpoints: Endpoint[] };
  eject: { endpoint: Endpoint; untilMs: number; consecutiveFailures: number };
  uneject: { endpoint: Endpoint };
}

interface EndpointState {
  endpoint: Endpoint;
  outstanding: number;
  consecutiveFailures: number;
  ejections: number;
  ejectedUntil: number;
  /** Until then the endpoint asked (Retry-After) not to be sent requests: tried last, like an ejected one. */
  coolUntil: number;
  requests: number;
  failures: number;
}

/** Until when an endpoint is at the back of preference lists: ejected, or cooling after a shed. */
const awayUntil = (s: EndpointState): number => (s.ejectedUntil > s.coolUntil ? s.ejectedUntil : s.coolUntil);

/** A slot taken by `acquire`: report how the attempt went, once. */
export interface Lease {
  endpoint: Endpoint;
  /** `retryAfterMs`: the upstream shed the request and asked for this pause (capped at outlier.maxRetryAfterMs). */
  done(ok: boolean, retryAfterMs?: number): void;
}

/**
 * Chooses an endpoint per request. The healthy set comes from a registry watch (or a static
 * list); passive health (outlier ejection in the manner of Envoy) takes out endpoints that keep
 * failing, for a time that grows with each ejection, never more than `maxEjectionRatio` of them.
 * `preferenceList(key)` orders every usable endpoint for failover: the first is the choice, the
 * rest are the backups.
 */
export class Balancer {
  readonly strategy: Strategy;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly outlier: Required<OutlierOptions>;
  private readonly events = new Emitter<BalancerEvents>();
  private states: EndpointState[] = [];
  private byId = new Map<string, EndpointState>();
  private rr = 0;
  private ring: BoundedLoadRing | undefined;
  private readonly loadFactor: number;
  private watchSub: Disposable | undefined;
  private failingStatic = false;
  private ready: Promise<void>;
  private markReady!: () => void;

  constructor(options: BalancerOptions) {
    const scope = 'Balancer';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options are required (registry + service, or instances)`);
    const o = checkOptions<BalancerOptions>(scope, options, ['registry', 'service', 'instances', 'strategy', 'loadFactor', 'outlier', 'clock', 'random']);
    this.strategy = checkOneOf(scope, 'strategy', o.strategy ?? BALANCER_DEFAULTS.strategy, ['round-robin', 'least-outstanding', 'p2c', 'consistent-hash']);
    this.loadFactor = checkNumber(scope, 'loadFactor', o.loadFactor ?? BALANCER_DEFAULTS.loadFactor, { min: 1, minExclusive: true, max: 100 });
    if (o.clock !== undefined) checkClock(scope, o.clock);
    this.clock = o.clock ?? systemClock;
    this.random = o.random === undefined ? Math.random : checkFunction<Random>(scope, 'random', o.random);
    const oo = checkOptions<OutlierOptions>(`${scope}.outlier`, o.outlier, Object.keys(OUTLIER_DEFAULTS));
    const d = OUTLIER_DEFAULTS;
    this.outlier = {
      consecutiveFailures: checkInteger(scope, 'outlier.consecutiveFailures', oo.consecutiveFailures ?? d.consecutiveFailures, { min: 1 }),
      baseEjectionMs: checkInteger(scope, 'outlier.baseEjectionMs', oo.baseEjectionMs ?? d.baseEjectionMs, { min: 1 }),
      maxEjectionMs: checkInteger(scope, 'outlier.maxEjectionMs', oo.maxEjectionMs ?? d.maxEjectionMs, { min: 1 }),
      maxEjectionRatio: checkNumber(scope, 'outlier.maxEjectionRatio', oo.maxEjectionRatio ?? d.maxEjectionRatio, { min: 0, max: 1 }),
      maxRetryAfterMs: checkInteger(scope, 'outlier.maxRetryAfterMs', oo.maxRetryAfterMs ?? d.maxRetryAfterMs, { min: 0, max: 3_600_000 }),
    };
    this.ready = new Promise((r) => (this.markReady = r));
    if ((o.instances === undefined) === (o.registry === undefined)) throw new InvalidOptionError(`${scope}: give either instances or registry + service`);
    if (o.instances !== undefined) {
      if (!Array.isArray(o.instances)) throw new InvalidOptionError(`${scope}: instances must be an array of URLs`);
      this.setEndpoints(o.instances.map((i) => (typeof i === 'string' ? { id: i, url: checkUrl(scope, i) } : { id: i.id, url: checkUrl(scope, i.url) })));
    } else {
      const service = checkString(scope, 'service', o.service);
      this.watchSub = o.registry!.watch(service, (healthy) => {
        // Fail static, as Envoy's panic routing does: a registry that calls every instance
        // unhealthy at once (its leases lapsed while its cluster elected a leader, say) has more
        // likely lost its view than every instance died. Keep the last healthy set until one is
        // healthy again: a dead one refuses at once and the request fails over.
        if (healthy.length === 0 && this.states.length > 0) {
          this.failingStatic = true;
          return;
        }
        this.failingStatic = false;
        this.setEndpoints(healthy.map(toEndpoint));
      });
    }
  }

  on<K extends keyof BalancerEvents>(name: K, listener: Listener<BalancerEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  /** Resolves once the first set of endpoints is known (immediately for a static list). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  /** The registry has called every instance unhealthy, and the last healthy set is still used (see the watch). */
  get failStatic(): boolean {
    return this.failingStatic;
  }

  get endpoints(): Endpoint[] {
    return this.states.map((s) => s.endpoint);
  }

  /** Every endpoint with its passive-health state: what the registry says, and what we saw. */
  view(): { id: string; url: string; outstanding: number; ejected: boolean; ejectedUntil: number | null; coolingUntil: number | null; consecutiveFailures: number; requests: number; failures: number }[] {
    const now = this.clock.now();
    return this.states.map((s) => ({
      id: s.endpoint.id,
      url: s.endpoint.url,
      outstanding: s.outstanding,
      ejected: s.ejectedUntil > now,
      ejectedUntil: s.ejectedUntil > now ? s.ejectedUntil : null,
      coolingUntil: s.coolUntil > now ? s.coolUntil : null,
      consecutiveFailures: s.consecutiveFailures,
      requests: s.requests,
      failures: s.failures,
    }));
  }

  /** Replaces the endpoint set (the registry watch calls this); keeps the state of endpoints that stay. */
  setEndpoints(endpoints: Endpoint[]): void {
    const next: EndpointState[] = [];
    const byId = new Map<string, EndpointState>();
    for (const e of endpoints) {
      if (byId.has(e.id)) continue;
      const old = this.byId.get(e.id);
      const s = old && old.endpoint.url === e.url ? old : { endpoint: e, outstanding: 0, consecutiveFailures: 0, ejections: 0, ejectedUntil: 0, coolUntil: 0, requests: 0, failures: 0 };
      next.push(s);
      byId.set(e.id, s);
    }
    this.states = next;
    this.byId = byId;
    if (this.strategy === 'consistent-hash') {
      const ring = new BoundedLoadRing({ vnodes: BALANCER_DEFAULTS.ringVnodes, loadFactor: this.loadFactor });
      for (const s of next) ring.add(s.endpoint.id);
      this.ring = ring;
    }
    this.events.emit('endpoints', { endpoints: this.endpoints });
    this.markReady();
  }

  /**
   * Endpoints in the order to try them for one request: the strategy's choice first, then the
   * others. Ejected endpoints come last (used only when nothing else is left).
   */
  preferenceList(key?: string): Endpoint[] {
    const now = this.clock.now();
    const states = this.states;
    // Per request: the common case (nothing ejected) allocates nothing but the result.
    let ejectedCount = 0;
    for (let i = 0; i < states.length; i++) if (awayUntil(states[i]!) > now) ejectedCount++;
    if (ejectedCount === 0 && this.strategy === 'round-robin') {
      const n = states.length;
      const out: Endpoint[] = new Array(n);
      const start = n === 0 ? 0 : this.rr++ % n;
      for (let i = 0; i < n; i++) out[i] = states[(start + i) % n]!.endpoint;
      return out;
    }
    const usable = ejectedCount === 0 ? states : states.filter((s) => awayUntil(s) <= now);
    const ejected = ejectedCount === 0 ? [] : states.filter((s) => awayUntil(s) > now).sort((a, b) => awayUntil(a) - awayUntil(b));
    if (usable.length === 0) return ejected.map((s) => s.endpoint);
    let ordered: EndpointState[];
    switch (this.strategy) {
      case 'round-robin': {
        const start = this.rr++ % usable.length;
        ordered = [...usable.slice(start), ...usable.slice(0, start)];
        break;
      }
      case 'least-outstanding':
        ordered = [...usable].sort((a, b) => a.outstanding - b.outstanding || (this.random() < 0.5 ? -1 : 1));
        break;
      case 'p2c': {
        // Power of two choices (Mitzenmacher): two at random, the less loaded first.
        const i = Math.floor(this.random() * usable.length);
        let j = Math.floor(this.random() * (usable.length - 1));
        if (j >= i) j++;
        const a = usable[i]!;
        const b = usable[j] ?? a;
        const first = b.outstanding < a.outstanding ? b : a;
        ordered = [first, ...usable.filter((s) => s !== first).sort((x, y) => x.outstanding - y.outstanding)];
        break;
      }
      case 'consistent-hash': {
        const healthy = (id: string): boolean => awayUntil(this.byId.get(id)!) <= now;
        const ids = key === undefined ? [] : this.ring!.lookupN(key, usable.length, { healthy });
        const first = key === undefined ? undefined : this.ring!.lookup(key, { healthy });
        const rest = ids.filter((id) => id !== first);
        ordered = [...(first ? [first] : []), ...rest].map((id) => this.byId.get(id)!);
        if (ordered.length === 0) ordered = usable;
        break;
      }
    }
    const out = ordered.map((s) => s.endpoint);
    for (const e of ejected) out.push(e.endpoint);
    return out;
  }

  /** Counts a request in flight on `endpoint`; call `done(ok)` when it ends. */
  acquire(endpoint: Endpoint, key?: string): Lease {
    const s = this.byId.get(endpoint.id);
    if (s) {
      s.outstanding++;
      s.requests++;
    }
    let ringNode: string | undefined;
    if (this.ring && key !== undefined && s && this.ring.has(s.endpoint.id)) {
      this.ring.acquire(key, { healthy: (id) => id === s.endpoint.id });
      ringNode = s.endpoint.id;
    }
    let finished = false;
    return {
      endpoint,
      done: (ok: boolean, retryAfterMs?: number) => {
        if (finished) return;
        finished = true;
        if (ringNode !== undefined && this.ring?.has(ringNode)) {
          try {
            this.ring.release(ringNode);
          } catch {
            /* ring rebuilt meanwhile */
          }
        }
        if (!s || this.byId.get(s.endpoint.id) !== s) return;
        s.outstanding--;
        if (retryAfterMs !== undefined && retryAfterMs > 0) s.coolUntil = Math.max(s.coolUntil, this.clock.now() + Math.min(retryAfterMs, this.outlier.maxRetryAfterMs));
        this.record(s, ok);
      },
    };
  }

  close(): void {
    this.watchSub?.dispose();
  }

  private record(s: EndpointState, ok: boolean): void {
    const now = this.clock.now();
    if (ok) {
      s.consecutiveFailures = 0;
      if (s.ejectedUntil > 0 && s.ejectedUntil <= now) {
        s.ejectedUntil = 0;
        this.events.emit('uneject', { endpoint: s.endpoint });
      }
      return;
    }
    s.failures++;
    s.consecutiveFailures++;
    if (s.consecutiveFailures < this.outlier.consecutiveFailures || s.ejectedUntil > now) return;
    const ejectedNow = this.states.filter((x) => x.ejectedUntil > now).length;
    if (ejectedNow + 1 > Math.floor(this.states.length * this.outlier.maxEjectionRatio)) return;
    s.ejections++;
    s.ejectedUntil = now + Math.min(this.outlier.maxEjectionMs, this.outlier.baseEjectionMs * s.ejections);
    this.events.emit('eject', { endpoint: s.endpoint, untilMs: s.ejectedUntil, consecutiveFailures: s.consecutiveFailures });
  }
}

function toEndpoint(h: InstanceHealth): Endpoint {
  const host = h.instance.address || '127.0.0.1';
  return { id: h.instance.id, url: `http://${host.includes(':') ? `[${host}]` : host}:${h.instance.port}` };
}

function checkUrl(scope: string, url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InvalidOptionError(`${scope}: instance ${JSON.stringify(url)} is not a URL (use http://host:port)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidOptionError(`${scope}: instance ${JSON.stringify(url)} must be http:// or https://`);
  return url.replace(/\/+$/, '');
}
