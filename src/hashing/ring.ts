import { checkInteger, checkOptions } from '../core/options.js';
import { murmur3, type HashFunction } from './hash.js';
import { checkLookupN, checkNode, checkWeight, compareStrings, NodeSet, type AddOptions, type LookupOptions, type Placement } from './placement.js';
import { InvalidOptionError } from '../core/errors.js';

export interface HashRingOptions {
  /**
   * Points on the ring per node of weight 1. Balance improves as 1/√vnodes (Karger et al.:
   * coefficient of variation ≈ 1/√points): 160 points give max/mean ≈ 1.11–1.15 over 10
   * nodes, 2048 give ≈ 1.03. Lookups do not slow down with more points (see `index`).
   * Default 2048.
   */
  vnodes?: number;
  /** Default murmur3. Every process that must agree needs the same hash and seed. */
  hash?: HashFunction;
  seed?: number;
}

export const HASH_RING_DEFAULTS = Object.freeze({ vnodes: 2048, seed: 0 });

const INDEX_BITS = 16;

/**
 * Consistent hashing on a ring (Karger et al., 1997) with virtual nodes and weights.
 * Point i of node N sits at hash(`N#i`); a key belongs to the first point clockwise from
 * hash(key). Removing a node moves only its keys; adding one takes ≈ 1/(n+1) of them.
 *
 * Lookups binary-search only a small range: `index[b]` holds the first point whose top 16
 * bits are ≥ b, so a lookup is one hash and a few comparisons however many points there are.
 */
export class HashRing implements Placement {
  readonly vnodes: number;
  readonly seed: number;
  protected readonly hash: HashFunction;
  protected readonly set = new NodeSet();
  /** Point positions, ascending. */
  protected positions = new Uint32Array(0);
  /** Owner of each point, as an index into `set.names`. */
  protected owners = new Int32Array(0);
  private index = new Uint32Array((1 << INDEX_BITS) + 1);

  constructor(options?: HashRingOptions) {
    const scope = 'HashRing';
    const o = checkOptions<HashRingOptions>(scope, options, ['vnodes', 'hash', 'seed']);
    this.vnodes = checkInteger(scope, 'vnodes', o.vnodes ?? HASH_RING_DEFAULTS.vnodes, { min: 1, max: 100_000 });
    this.seed = checkInteger(scope, 'seed', o.seed ?? HASH_RING_DEFAULTS.seed, { min: 0, max: 2 ** 32 - 1 });
    if (o.hash !== undefined && typeof o.hash !== 'function') throw new InvalidOptionError(`${scope}: hash must be a function (key, seed) => uint32`);
    this.hash = o.hash ?? murmur3;
  }

  get nodes(): readonly string[] {
    return this.set.names;
  }

  /** Points on the ring in all. */
  get size(): number {
    return this.positions.length;
  }

  has(node: string): boolean {
    return this.set.has(node);
  }

  add(node: string, options?: AddOptions): this {
    checkNode('HashRing.add', node);
    if (this.set.set(node, checkWeight('HashRing.add', options))) this.rebuild();
    return this;
  }

  remove(node: string): this {
    if (this.set.delete(node)) this.rebuild();
    return this;
  }

  /** Position of a key on the ring. */
  position(key: string): number {
    return this.hash(key, this.seed) >>> 0;
  }

  lookup(key: string): string | undefined {
    if (this.positions.length === 0) return undefined;
    return this.set.names[this.owners[this.pointFor(this.position(key))]!]!;
  }

  lookupN(key: string, n: number, options?: LookupOptions): string[] {
    const healthy = checkLookupN('HashRing.lookupN', n, options);
    const names = this.set.names;
    const out: string[] = [];
    const total = this.positions.length;
    if (total === 0) return out;
    const seen = new Uint8Array(names.length);
    let distinct = 0;
    let p = this.pointFor(this.position(key));
    for (let steps = 0; steps < total && out.length < n && distinct < names.length; steps++, p = p + 1 === total ? 0 : p + 1) {
      const owner = this.owners[p]!;
      if (seen[owner]) continue;
      seen[owner] = 1;
      distinct++;
      const node = names[owner]!;
      if (healthy === undefined || healthy(node)) out.push(node);
    }
    return out;
  }

  /**
   * The ring as arcs: keys whose position is in (start, end] (wrapping past 2^32 − 1)
   * belong to `node`; `length` is the number of positions. For rebalance plans.
   */
  arcs(): { start: number; end: number; length: number; node: string }[] {
    const out: { start: number; end: number; length: number; node: string }[] = [];
    const total = this.positions.length;
    if (total === 0) return out;
    let prev = this.positions[total - 1]!;
    for (let i = 0; i < total; i++) {
      const pos = this.positions[i]!;
      const length = total === 1 ? 2 ** 32 : (pos - prev) >>> 0 || (i === 0 ? 2 ** 32 : 0);
      if (length > 0) out.push({ start: prev, end: pos, length, node: this.set.names[this.owners[i]!]! });
      prev = pos;
    }
    return out;
  }

  /** Index of the first point at or after `h` (wrapping). */
  protected pointFor(h: number): number {
    const b = h >>> (32 - INDEX_BITS);
    let lo = this.index[b]!;
    let hi = this.index[b + 1]!;
    const positions = this.positions;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (positions[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === positions.length ? 0 : lo;
  }

  protected rebuild(): void {
    const names = this.set.names;
    const points: { pos: number; owner: number; i: number }[] = [];
    names.forEach((node, owner) => {
      const count = Math.max(1, Math.round(this.vnodes * this.set.weight(node)));
      for (let i = 0; i < count; i++) points.push({ pos: this.hash(`${node}#${i}`, this.seed) >>> 0, owner, i });
    });
    // Equal positions are ordered by node name, then point number: the same in every process.
    points.sort((a, b) => a.pos - b.pos || compareStrings(names[a.owner]!, names[b.owner]!) || a.i - b.i);
    this.positions = Uint32Array.from(points, (p) => p.pos);
    this.owners = Int32Array.from(points, (p) => p.owner);
    const index = new Uint32Array((1 << INDEX_BITS) + 1);
    let p = 0;
    for (let b = 0; b <= 1 << INDEX_BITS; b++) {
      const floor = b * 2 ** (32 - INDEX_BITS);
      while (p < this.positions.length && this.positions[p]! < floor) p++;
      index[b] = p;
    }
    this.index = index;
  }
}
