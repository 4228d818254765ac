import { checkInteger, checkOptions } from '../core/options.js';
import { compareStrings, type Placement } from './placement.js';
import { HashRing } from './ring.js';

export interface Move {
  from: string;
  to: string;
  /** Share of all keys that move from `from` to `to`, in [0, 1]. */
  share: number;
}

export interface RebalancePlan {
  /** Share of all keys whose node changes. */
  moved: number;
  /** What an ideal placement would move: the share of the key space owned by nodes that leave, or gained by nodes that join. */
  ideal: number;
  moves: Move[];
  /** Exact for two rings with the same hash and seed (computed from their arcs); otherwise estimated from `sampleKeys` keys. */
  exact: boolean;
  /** For exact plans: the key ranges that move, as (start, end] on the 2^32 ring, largest first, at most `maxRanges`. */
  ranges?: { start: number; end: number; from: string; to: string }[];
}

export interface RebalanceOptions {
  /** Keys sampled when the plan cannot be exact. Default 100 000. */
  sampleKeys?: number;
  /** Ranges listed in an exact plan. Default 100. */
  maxRanges?: number;
}

/**
 * What a membership change will cost before you make it: which share of keys moves from which
 * node to which. Build `after` as a copy of `before` with the change applied.
 */
export function rebalancePlan(before: Placement, after: Placement, options?: RebalanceOptions): RebalancePlan {
  const o = checkOptions<RebalanceOptions>('rebalancePlan', options, ['sampleKeys', 'maxRanges']);
  const sampleKeys = checkInteger('rebalancePlan', 'sampleKeys', o.sampleKeys ?? 100_000, { min: 100, max: 10_000_000 });
  const maxRanges = checkInteger('rebalancePlan', 'maxRanges', o.maxRanges ?? 100, { min: 0 });
  const ideal = idealShare(before, after);
  if (before instanceof HashRing && after instanceof HashRing && before.seed === after.seed && before.position('k') === after.position('k')) {
    return exactRingPlan(before, after, ideal, maxRanges);
  }
  const tally = new Map<string, number>();
  let moved = 0;
  for (let i = 0; i < sampleKeys; i++) {
    const key = `rebalance-sample-${i}`;
    const a = before.lookup(key);
    const b = after.lookup(key);
    if (a === b || a === undefined || b === undefined) continue;
    moved++;
    const k = `${a}\u0000${b}`;
    tally.set(k, (tally.get(k) ?? 0) + 1);
  }
  return { moved: moved / sampleKeys, ideal, moves: toMoves(tally, sampleKeys), exact: false };
}

function exactRingPlan(before: HashRing, after: HashRing, ideal: number, maxRanges: number): RebalancePlan {
  // Walk the union of both rings' boundaries; between two consecutive boundaries each ring has one owner.
  const a = before.arcs();
  const b = after.arcs();
  const boundaries = [...new Set([...a.map((x) => x.end), ...b.map((x) => x.end)])].sort((x, y) => x - y);
  const ownerAt = (arcs: ReturnType<HashRing['arcs']>, ends: number[]) => (pos: number): string | undefined => {
    if (arcs.length === 0) return undefined;
    let lo = 0;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ends[mid]! < pos) lo = mid + 1;
      else hi = mid;
    }
    return arcs[lo === ends.length ? 0 : lo]!.node;
  };
  const ownerA = ownerAt(a, a.map((x) => x.end));
  const ownerB = ownerAt(b, b.map((x) => x.end));
  const tally = new Map<string, number>();
  const ranges: { start: number; end: number; from: string; to: string; length: number }[] = [];
  let moved = 0;
  for (let i = 0; i < boundaries.length; i++) {
    const end = boundaries[i]!;
    const start = i === 0 ? boundaries[boundaries.length - 1]! : boundaries[i - 1]!;
    const length = boundaries.length === 1 ? 2 ** 32 : (end - start) >>> 0;
    if (length === 0) continue;
    const from = ownerA(end);
    const to = ownerB(end);
    if (from === undefined || to === undefined || from === to) continue;
    moved += length;
    const k = `${from}\u0000${to}`;
    tally.set(k, (tally.get(k) ?? 0) + length);
    ranges.push({ start, end, from, to, length });
  }
  ranges.sort((x, y) => y.length - x.length);
  return {
    moved: moved / 2 ** 32,
    ideal,
    moves: toMoves(tally, 2 ** 32),
    exact: true,
    ranges: ranges.slice(0, maxRanges).map(({ start, end, from, to }) => ({ start, end, from, to })),
  };
}

function toMoves(tally: Map<string, number>, total: number): Move[] {
  return [...tally]
    .map(([k, v]) => {
      const [from, to] = k.split('\u0000') as [string, string];
      return { from, to, share: v / total };
    })
    .sort((x, y) => y.share - x.share || compareStrings(x.from, y.from) || compareStrings(x.to, y.to));
}

/** The least any placement must move: the share held by leaving nodes or due to joining ones (equal weights). */
function idealShare(before: Placement, after: Placement): number {
  const a = new Set(before.nodes);
  const b = new Set(after.nodes);
  const left = [...a].filter((n) => !b.has(n)).length;
  const joined = [...b].filter((n) => !a.has(n)).length;
  const fromLeaving = a.size === 0 ? 0 : left / a.size;
  const toJoining = b.size === 0 ? 0 : joined / b.size;
  return Math.max(fromLeaving, toJoining);
}
