import type { FencedWrite } from '../metrics/fencing-check.js';
import { checkLinearizable, registerModel, type LinearizabilityResult, type LinearOp, type RegisterInput } from '../metrics/linearizable.js';

/** One maintenance write a db node was asked to take, as its /status reports it. */
export interface FenceEntry {
  /** Numbered from 1 in each process (a restarted node starts again). */
  seq: number;
  token: number;
  /** The web node that sent it (the leader it believed it was). */
  writer?: string;
  accepted: boolean;
  /** When the request arrived, and when it was answered (an accepted one: once journaled). */
  at: number;
  doneAt?: number;
  /** An accepted write: the record it set (maintenanceId). */
  value?: string;
}

/** A maintenance record's identity — who wrote it, with which token, in which of its runs — or null. */
export function maintenanceId(record: unknown): string | null {
  if (record === null || typeof record !== 'object') return null;
  const r = record as { leader?: unknown; token?: unknown; run?: unknown };
  return `${String(r.leader)}@${String(r.token)}#${String(r.run)}`;
}

/** The linearizability check of the db nodes' maintenance records (DemoResult.linearizable). */
export interface MaintenanceCheck {
  valid: boolean | 'unknown';
  /** Accepted writes from the nodes' logs; the supervisor's reads; records read that no log showed. */
  writes: number;
  reads: number;
  reconstructed: number;
  steps: number;
  reason?: string;
  counterexample?: LinearizabilityResult['counterexample'];
}

/** How many reads of the maintenance registers the supervisor keeps for the check. */
export const REGISTER_READS_MAX = 20_000;

/**
 * Each db node's maintenance record as a register, for the linearizability check: its writes
 * (the accepted maintenance writes in the node's log: arrival → answer) and the supervisor's
 * reads (each poll of a ready node: request → answer). A record read that no log shows — its
 * node was killed between taking it and the next poll — enters as a write of unknown outcome
 * from the time the record says it was taken. Checked per node across its restarts: an
 * acknowledged record must survive a kill, and no read may go back to an older one.
 */
export class MaintenanceRegisters {
  private readonly reads: { node: string; call: number; return: number; value: string | null; at: number | undefined }[] = [];

  /** One poll's answer: sent at `call`, read at `ret`. */
  read(node: string, call: number, ret: number, record: unknown): void {
    if (this.reads.length >= REGISTER_READS_MAX) return;
    const at = record && typeof record === 'object' ? (record as { at?: unknown }).at : undefined;
    this.reads.push({ node, call, return: ret, value: maintenanceId(record), at: typeof at === 'number' ? at : undefined });
  }

  /** The history: writes from `logs` (every node's lives), reads from the polls. */
  history(logs: FencingLogs): { ops: LinearOp<RegisterInput<string>, unknown>[]; writes: number; reads: number; reconstructed: number } {
    const ops: LinearOp<RegisterInput<string>, unknown>[] = [];
    const written = new Set<string>();
    for (const [node, e] of logs.entries()) {
      if (!e.accepted || e.value === undefined || e.doneAt === undefined) continue;
      ops.push({ input: { f: 'write', key: node, value: e.value }, call: e.at, return: e.doneAt, process: e.writer ?? 'leader' });
      written.add(`${node} ${e.value}`);
    }
    const writes = ops.length;
    let reconstructed = 0;
    for (const r of this.reads) {
      if (r.value !== null && !written.has(`${r.node} ${r.value}`)) {
        written.add(`${r.node} ${r.value}`);
        ops.push({ input: { f: 'write', key: r.node, value: r.value }, call: r.at ?? r.call - 60_000, process: 'unlogged' });
        reconstructed++;
      }
      ops.push({ input: { f: 'read', key: r.node }, output: r.value, call: r.call, return: r.return, process: 'supervisor' });
    }
    return { ops, writes, reads: this.reads.length, reconstructed };
  }

  /** The check: each node's register linearizable (the search bounded by maxSteps). */
  check(logs: FencingLogs, maxSteps?: number): MaintenanceCheck {
    const h = this.history(logs);
    const r = checkLinearizable(h.ops, registerModel<string>(), maxSteps === undefined ? {} : { maxSteps });
    return { valid: r.valid, writes: h.writes, reads: h.reads, reconstructed: h.reconstructed, steps: r.steps, ...(r.reason ? { reason: r.reason } : {}), ...(r.counterexample ? { counterexample: r.counterexample } : {}) };
  }
}

/** How many maintenance writes a db node keeps for the supervisor to read. */
export const FENCE_LOG_MAX = 10_000;

/**
 * The supervisor's copy of every db node's maintenance writes, read a poll at a time
 * (`/status?fencingAfter=SEQ`) and kept per process, so a node's log survives its restarts here:
 * the run's fencing check sees each node's writes in the order the node took them, across its
 * lives. Writes a node took after the last poll before it was killed are not seen.
 */
export class FencingLogs {
  private readonly nodes = new Map<string, { pid: number; entries: FenceEntry[] }[]>();

  /** The last seq read from this process (0: none yet). */
  after(name: string, pid: number): number {
    const life = this.nodes.get(name)?.find((l) => l.pid === pid);
    return life?.entries[life.entries.length - 1]?.seq ?? 0;
  }

  /** Entries one poll of `name` (process `pid`) returned; older or repeated seqs are ignored. */
  record(name: string, pid: number, entries: unknown): void {
    if (!Array.isArray(entries)) return;
    let lives = this.nodes.get(name);
    if (!lives) this.nodes.set(name, (lives = []));
    let life = lives.find((l) => l.pid === pid);
    if (!life) lives.push((life = { pid, entries: [] }));
    for (const e of entries as FenceEntry[]) {
      if (typeof e?.seq !== 'number' || typeof e.token !== 'number' || typeof e.accepted !== 'boolean') continue;
      if (e.seq <= (life.entries[life.entries.length - 1]?.seq ?? 0)) continue;
      life.entries.push(e);
    }
  }

  /** Every entry, with its node. */
  *entries(): Generator<[string, FenceEntry]> {
    for (const [name, lives] of this.nodes) for (const life of lives) for (const e of life.entries) yield [name, e];
  }

  /** Every node's writes as checkFencing takes them: the node is the resource, its lives in order. */
  history(): FencedWrite[] {
    const out: FencedWrite[] = [];
    for (const [name, lives] of this.nodes) {
      for (const life of lives) for (const e of life.entries) out.push({ resource: name, token: e.token, accepted: e.accepted, at: e.at, ...(e.writer !== undefined ? { writer: e.writer } : {}) });
    }
    return out;
  }
}
