import type { FencedWrite } from '../metrics/fencing-check.js';

/** One maintenance write a db node was asked to take, as its /status reports it. */
export interface FenceEntry {
  /** Numbered from 1 in each process (a restarted node starts again). */
  seq: number;
  token: number;
  /** The web node that sent it (the leader it believed it was). */
  writer?: string;
  accepted: boolean;
  at: number;
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

  /** Every node's writes as checkFencing takes them: the node is the resource, its lives in order. */
  history(): FencedWrite[] {
    const out: FencedWrite[] = [];
    for (const [name, lives] of this.nodes) {
      for (const life of lives) for (const e of life.entries) out.push({ resource: name, token: e.token, accepted: e.accepted, at: e.at, ...(e.writer !== undefined ? { writer: e.writer } : {}) });
    }
    return out;
  }
}
