import { cpuMicros, type DemoProcessRole } from './config.js';

/** The tiers counted: an etcd member the demo runs counts as the registry tier. */
type CountedRole = Exclude<DemoProcessRole, 'etcd'>;
import type { CpuUse, DemoResult, SheddingTotals } from './views.js';

type AdmissionCounts = SheddingTotals['db'];
type RouteCounts = DemoResult['amplification']['gateway'] & { shed: number };
/**
 * What one process counted, as numbers: a db or web node's admission counters, a gateway's
 * route counters, and the CPU time (user + system, µs) its process reported. Fields a process
 * does not have are 0.
 */
export type NodeCounts = AdmissionCounts & RouteCounts & { cpuMicros: number };
const FIELDS = ['admitted', 'shedByLimit', 'shedByHealth', 'expired', 'requests', 'attempts', 'retries', 'hedges', 'markedRetries', 'budgetExhausted', 'shed', 'cpuMicros'] as const satisfies readonly (keyof NodeCounts)[];

/** The counts of every tier at one moment, and this (the supervisor's) process's CPU time. */
export interface CountsSnapshot {
  /** When it was taken (ms, Date.now()). */
  at: number;
  db: NodeCounts;
  web: NodeCounts;
  gateway: NodeCounts;
  /** The registry's process (only its CPU time). */
  registry: NodeCounts;
  supervisorMicros: number;
  /** The load's client process. */
  clientMicros: number;
}

/**
 * What the demo's processes counted — requests admitted and shed, a gateway's requests, retries
 * and sheds, CPU time — from their status, added up per tier and kept across restarts: a new
 * process counts from 0, so what the old one counted (as of its last poll) is carried over.
 */
export class TierCounters {
  private readonly nodes = new Map<string, { role: CountedRole; pid: number; base: NodeCounts; last: NodeCounts }>();

  /** One poll of a process's status: a node's `admission`, a gateway's `route`, and `cpuMicros` (fields it lacks count as 0). */
  record(name: string, role: CountedRole, pid: number, status: Record<string, unknown>): void {
    const part = role === 'gateway' ? status.route : status.admission;
    const counts = typeof part === 'object' && part !== null ? (part as Partial<NodeCounts>) : {};
    const now = pickCounts({ ...counts, cpuMicros: status.cpuMicros as number });
    const seen = this.nodes.get(name);
    if (!seen) return void this.nodes.set(name, { role, pid, base: zeroCounts(), last: now });
    if (pid !== seen.pid) {
      seen.base = addCounts(seen.base, seen.last);
      seen.pid = pid;
    }
    seen.last = now;
  }

  /** `clientMicros`: the load's client process's CPU time so far (it serves no status page). */
  snapshot(at = Date.now(), clientMicros = 0): CountsSnapshot {
    const s: CountsSnapshot = { at, db: zeroCounts(), web: zeroCounts(), gateway: zeroCounts(), registry: zeroCounts(), supervisorMicros: cpuMicros(), clientMicros };
    for (const n of this.nodes.values()) s[n.role] = addCounts(s[n.role], addCounts(n.base, n.last));
    return s;
  }
}

/** What was shed and the CPU each tier used between two snapshots, for `requests` measured between them. */
export function countsBetween(start: CountsSnapshot, end: CountsSnapshot, requests: number, hasRegistry = false): { shedding: SheddingTotals; cpu: DemoResult['cpu'] } {
  const [db, web, gateway, registry] = (['db', 'web', 'gateway', 'registry'] as const).map((role) => addCounts(end[role], start[role], -1)) as [NodeCounts, NodeCounts, NodeCounts, NodeCounts];
  const ms = Math.max(1, end.at - start.at);
  const use = (micros: number): CpuUse => ({ cpuMs: micros / 1000, perRequestMs: requests > 0 ? micros / 1000 / requests : null, cores: micros / 1000 / ms });
  return {
    shedding: { gateway: gateway.shed, web: admissionOnly(web), db: admissionOnly(db) },
    cpu: { requests, measuredMs: ms, db: use(db.cpuMicros), web: use(web.cpuMicros), gateway: use(gateway.cpuMicros), registry: hasRegistry ? use(registry.cpuMicros) : null, supervisor: use(end.supervisorMicros - start.supervisorMicros), client: use(end.clientMicros - start.clientMicros) },
  };
}

export function zeroCounts(): NodeCounts {
  return pickCounts({});
}

function pickCounts(s: Partial<Record<keyof NodeCounts, unknown>>): NodeCounts {
  const n = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) ? x : 0);
  return Object.fromEntries(FIELDS.map((f) => [f, n(s[f])])) as NodeCounts;
}

function addCounts(a: NodeCounts, b: NodeCounts, sign = 1): NodeCounts {
  return Object.fromEntries(FIELDS.map((f) => [f, a[f] + sign * b[f]])) as NodeCounts;
}

function admissionOnly(c: NodeCounts): AdmissionCounts {
  return { admitted: c.admitted, shedByLimit: c.shedByLimit, shedByHealth: c.shedByHealth, expired: c.expired };
}
