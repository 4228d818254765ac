import { InvalidOptionError, OptionRangeError } from '../core/errors.js';
/**
 * A history checker in the manner of Jepsen's set checker. Each write is recorded as invoked,
 * then completed as `ok` (acknowledged), `fail` (definitely not applied) or `info` (unknown:
 * a timeout, a dropped connection). After the run, the final reads decide:
 *   - lost: acknowledged but not read — must be 0, or the system lost data it promised to keep;
 *   - unexpected: read but never written;
 *   - failedButPresent: reported failed, yet applied — the client was told a lie;
 *   - recovered: outcome unknown, and in fact applied (allowed either way).
 */
export type WriteOutcome = 'invoked' | 'ok' | 'fail' | 'info';

export interface HistoryResult {
  valid: boolean;
  attempted: number;
  acknowledged: number;
  failed: number;
  unknown: number;
  lost: string[];
  unexpected: string[];
  failedButPresent: string[];
  recovered: string[];
  /** Acknowledged and read back. */
  confirmed: number;
}

export class HistoryChecker {
  private readonly ops = new Map<string, { outcome: WriteOutcome; invokedAt: number; completedAt?: number }>();

  /** Records that a write of `id` was sent; returns the functions that complete it. */
  invoke(id: string, at = Date.now()): { ok(at?: number): void; fail(at?: number): void; info(at?: number): void } {
    if (typeof id !== 'string' || id.length === 0) throw new InvalidOptionError(`HistoryChecker.invoke: id must be a non-empty string, got ${JSON.stringify(id)}`);
    if (this.ops.has(id)) throw new OptionRangeError(`HistoryChecker.invoke: write ${JSON.stringify(id)} was invoked twice; give every write a unique id`);
    const op: { outcome: WriteOutcome; invokedAt: number; completedAt?: number } = { outcome: 'invoked', invokedAt: at };
    this.ops.set(id, op);
    const complete = (outcome: WriteOutcome) => (when = Date.now()): void => {
      if (op.outcome !== 'invoked') throw new OptionRangeError(`HistoryChecker: write ${JSON.stringify(id)} completed twice (${op.outcome}, then ${outcome})`);
      op.outcome = outcome;
      op.completedAt = when;
    };
    return { ok: complete('ok'), fail: complete('fail'), info: complete('info') };
  }

  get size(): number {
    return this.ops.size;
  }

  /** Checks the history against the ids read back at the end of the run. */
  check(read: Iterable<string>): HistoryResult {
    const seen = new Set(read);
    const r: HistoryResult = { valid: true, attempted: this.ops.size, acknowledged: 0, failed: 0, unknown: 0, lost: [], unexpected: [], failedButPresent: [], recovered: [], confirmed: 0 };
    for (const [id, op] of this.ops) {
      const present = seen.has(id);
      switch (op.outcome) {
        case 'ok':
          r.acknowledged++;
          if (present) r.confirmed++;
          else r.lost.push(id);
          break;
        case 'fail':
          r.failed++;
          if (present) r.failedButPresent.push(id);
          break;
        default:
          // invoked but never completed counts as unknown, like Jepsen's :info
          r.unknown++;
          if (present) r.recovered.push(id);
      }
    }
    for (const id of seen) if (!this.ops.has(id)) r.unexpected.push(id);
    r.valid = r.lost.length === 0 && r.unexpected.length === 0 && r.failedButPresent.length === 0;
    return r;
  }
}
