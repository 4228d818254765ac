import { checkOptions } from '../core/options.js';
import { murmur3, type HashFunction } from './hash.js';
import { checkLookupN, OrderedPlacement, type LookupOptions } from './placement.js';
import { OptionRangeError } from '../core/errors.js';

/**
 * Jump consistent hash (Lamping & Veach, 2014): no memory, perfect balance, minimal movement —
 * but buckets are numbered, so **only the last node added can be removed**; removing any other
 * would renumber the rest. Use it for shards that only grow or shrink at the end; use HashRing,
 * Rendezvous or Maglev when any node can fail. Nodes keep their insertion order.
 */
export class JumpHash extends OrderedPlacement {
  private readonly hash: HashFunction;

  constructor(options?: { hash?: HashFunction }) {
    super('JumpHash');
    const o = checkOptions<{ hash?: HashFunction }>('JumpHash', options, ['hash']);
    this.hash = o.hash ?? murmur3;
  }

  override remove(node: string): this {
    const i = this.order.indexOf(node);
    if (i < 0) return this;
    if (i !== this.order.length - 1) {
      throw new OptionRangeError(
        `JumpHash.remove: only the last node (${JSON.stringify(this.order.at(-1))}) can be removed; removing ${JSON.stringify(node)} would remap most keys (use HashRing, Rendezvous or Maglev when any node can fail)`,
      );
    }
    return super.remove(node);
  }

  /** The bucket for a key among `buckets` (the algorithm itself). */
  static bucket(keyHash: number, buckets: number): number {
    // The jumps are driven by a 32-bit generator seeded with the key's hash instead of the
    // paper's 64-bit LCG (no BigInt on the hot path); the jump rule j = ⌊(b + 1) / r⌋ with
    // r uniform in (0, 1] is the paper's, so the same balance and movement hold.
    let state = keyHash >>> 0;
    let b = -1;
    let j = 0;
    while (j < buckets) {
      b = j;
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      const r = ((t ^ (t >>> 14)) >>> 0) / 4294967296 + 1 / 8589934592; // (0, 1]
      j = Math.floor((b + 1) / r);
    }
    return b;
  }

  lookup(key: string): string | undefined {
    if (this.order.length === 0) return undefined;
    return this.order[JumpHash.bucket(this.hash(key), this.order.length)];
  }

  lookupN(key: string, n: number, options?: LookupOptions): string[] {
    const healthy = checkLookupN('JumpHash.lookupN', n, options);
    const out: string[] = [];
    const tried = new Set<string>();
    for (let i = 0; out.length < n && tried.size < this.order.length && i < this.order.length * 8; i++) {
      const node = this.order[JumpHash.bucket(this.hash(key, i), this.order.length)]!;
      if (tried.has(node)) continue;
      tried.add(node);
      if (healthy === undefined || healthy(node)) out.push(node);
    }
    // Rare: hashing did not reach every node; finish in bucket order.
    for (const node of this.order) {
      if (out.length >= n) break;
      if (!tried.has(node) && (healthy === undefined || healthy(node))) out.push(node);
    }
    return out;
  }
}
