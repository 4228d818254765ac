import type { Disposable } from '../core/events.js';
import type { Clock } from '../core/clock.js';
import { HealthCheck, type HealthStatus } from '../detection/health-check.js';
import { InvalidOptionError, OptionRangeError } from '../core/errors.js';

export type CheckStatus = HealthStatus;

/** A health check attached to an instance: exactly one of http, tcp or ttlMs. */
export interface CheckDefinition {
  /** Default: `service:<instance id>` (`service:<id>:<n>` when there are several). */
  id?: string;
  name?: string;
  http?: string;
  tcp?: string;
  /** A TTL check: the instance must call pass() at least this often. */
  ttlMs?: number;
  /**
   * With ttlMs: the updates judged by φ accrual instead of a fixed TTL (see HealthCheckOptions.phi;
   * Consul JSON: `PhiThreshold`, `PhiAcceptablePause` — steadfast's own fields, which a real
   * Consul agent does not know).
   */
  phi?: { threshold?: number; acceptableHeartbeatPauseMs?: number };
  /** For http and tcp checks. Default 10 000. */
  intervalMs?: number;
  timeoutMs?: number;
  /** Remove the instance when this check has stayed critical this long. */
  deregisterCriticalAfterMs?: number;
  successBeforePassing?: number;
  failuresBeforeWarning?: number;
  failuresBeforeCritical?: number;
  /** Status before the first result. Default 'critical'. */
  status?: CheckStatus;
  notes?: string;
}

export interface ServiceInstance {
  /** Unique in the registry. Default: the service name. */
  id: string;
  service: string;
  address: string;
  port: number;
  tags?: string[];
  meta?: Record<string, string>;
  checks?: CheckDefinition[];
}

export interface CheckState {
  id: string;
  name: string;
  instanceId: string;
  service: string;
  type: 'http' | 'tcp' | 'ttl';
  status: CheckStatus;
  output: string;
  notes: string;
}

export interface InstanceHealth {
  instance: ServiceInstance;
  checks: CheckState[];
  /** The worst of its checks (passing when it has none). */
  status: CheckStatus;
}

/**
 * Who is alive, by service. Backends: EmbeddedRegistry (in-process), HttpRegistry (our
 * Consul-compatible server, or a real Consul agent), EtcdRegistry. One conformance suite runs
 * on all of them.
 */
export interface Registry {
  register(instance: ServiceInstance): Promise<void>;
  deregister(instanceId: string): Promise<void>;
  /** Updates a TTL check. */
  pass(checkId: string, note?: string): Promise<void>;
  warn(checkId: string, note?: string): Promise<void>;
  fail(checkId: string, note?: string): Promise<void>;
  /** Instances of a service whose checks all pass. */
  healthy(service: string): Promise<InstanceHealth[]>;
  /** Every instance of a service, with its checks. */
  instances(service: string): Promise<InstanceHealth[]>;
  /** Service names and their tags. */
  services(): Promise<Record<string, string[]>>;
  /** Calls `onChange` with the healthy instances now and after every change. */
  watch(service: string, onChange: (healthy: InstanceHealth[]) => void): Disposable;
  close(): Promise<void>;
}

const RANK: Record<CheckStatus, number> = { passing: 0, warning: 1, critical: 2 };

export function worstStatus(checks: { status: CheckStatus }[]): CheckStatus {
  let worst: CheckStatus = 'passing';
  for (const c of checks) if (RANK[c.status] > RANK[worst]) worst = c.status;
  return worst;
}

export function defaultCheckId(instanceId: string, index: number, count: number): string {
  return count > 1 ? `service:${instanceId}:${index + 1}` : `service:${instanceId}`;
}

/** Validates an instance (throws TypeError/RangeError naming the field) and fills defaults. */
export function normalizeInstance(scope: string, input: ServiceInstance): ServiceInstance {
  if (input === null || typeof input !== 'object') throw new InvalidOptionError(`${scope}: instance must be an object`);
  const service = input.service;
  if (typeof service !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(service)) {
    throw new InvalidOptionError(`${scope}: service must be 1–128 letters, digits, '.', '_' or '-', got ${JSON.stringify(service)}`);
  }
  const id = input.id ?? service;
  if (typeof id !== 'string' || id.length === 0 || id.length > 256 || /[\s/]/.test(id)) throw new InvalidOptionError(`${scope}: id must be 1–256 characters without spaces or '/', got ${JSON.stringify(id)}`);
  if (typeof input.address !== 'string' || input.address.length > 256) throw new InvalidOptionError(`${scope}: address must be a string, got ${typeof input.address}`);
  if (!Number.isInteger(input.port) || input.port < 0 || input.port > 65535) throw new OptionRangeError(`${scope}: port must be an integer from 0 to 65535, got ${JSON.stringify(input.port)}`);
  const tags = input.tags ?? [];
  if (!Array.isArray(tags) || tags.length > 64 || tags.some((t) => typeof t !== 'string' || t.length > 256)) throw new InvalidOptionError(`${scope}: tags must be at most 64 strings`);
  const meta = input.meta ?? {};
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta) || Object.keys(meta).length > 64 || Object.values(meta).some((v) => typeof v !== 'string')) {
    throw new InvalidOptionError(`${scope}: meta must be an object of at most 64 string values`);
  }
  const checks = input.checks ?? [];
  if (!Array.isArray(checks) || checks.length > 16) throw new InvalidOptionError(`${scope}: checks must be an array of at most 16`);
  const ids = new Set<string>();
  const normalized = checks.map((c, i) => {
    const kinds = (['http', 'tcp', 'ttlMs'] as const).filter((k) => c?.[k] !== undefined);
    if (kinds.length !== 1) throw new InvalidOptionError(`${scope}: checks[${i}] needs exactly one of http, tcp or ttlMs`);
    const cid = c.id ?? defaultCheckId(id, i, checks.length);
    if (ids.has(cid)) throw new InvalidOptionError(`${scope}: checks[${i}].id ${JSON.stringify(cid)} is used twice`);
    ids.add(cid);
    return { ...c, id: cid, name: c.name ?? `Service '${service}' check` };
  });
  return { id, service, address: input.address, port: input.port, tags: [...tags], meta: { ...meta }, checks: normalized };
}

/** The HealthCheck (steadfast/detection) that runs one check definition, with Consul's semantics. */
export function healthCheckFor(def: CheckDefinition & { name: string }, clock?: Clock): { hc: HealthCheck; type: CheckState['type'] } {
  const type = def.http !== undefined ? 'http' : def.tcp !== undefined ? 'tcp' : 'ttl';
  const hc = new HealthCheck({
    ...(def.http !== undefined ? { http: def.http } : def.tcp !== undefined ? { tcp: def.tcp } : { ttlMs: def.ttlMs!, ...(def.phi !== undefined ? { phi: def.phi } : {}) }),
    ...(def.intervalMs !== undefined ? { intervalMs: def.intervalMs } : {}),
    ...(def.timeoutMs !== undefined ? { timeoutMs: def.timeoutMs } : {}),
    ...(def.successBeforePassing !== undefined ? { successBeforePassing: def.successBeforePassing } : {}),
    ...(def.failuresBeforeWarning !== undefined ? { failuresBeforeWarning: def.failuresBeforeWarning } : {}),
    ...(def.failuresBeforeCritical !== undefined ? { failuresBeforeCritical: def.failuresBeforeCritical } : {}),
    initialStatus: def.status ?? 'critical',
    name: def.name,
    ...(clock ? { clock } : {}),
  });
  return { hc, type };
}
