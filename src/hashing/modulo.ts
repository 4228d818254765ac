import { checkOptions } from '../core/options.js';
import { murmur3, type HashFunction } from './hash.js';
import { checkLookupN, OrderedPlacement, type LookupOptions } from './placement.js';

/**
 * The seed's formula, H(x) = h(x mod p) mod q: a key goes to node h(key) mod n. Kept only as
 * the baseline that shows why consistent hashing exists — when n changes, almost every key
 * moves (n/(n+1) of them on an add), where a ring moves about 1/(n+1).
 */
export class ModuloHash extends OrderedPlacement {
  private readonly hash: HashFunction;

  constructor(options?: { hash?: HashFunction }) {
    super('ModuloHash');
    const o = checkOptions<{ hash?: HashFunction }>('ModuloHash', options, ['hash']);
    this.hash = o.hash ?? murmur3;
  }

  lookup(key: string): string | undefined {
    return this.order.length === 0 ? undefined : this.order[(this.hash(key) >>> 0) % this.order.length];
  }
  lookupN(key: string, n: number, options?: LookupOptions): string[] {
    const healthy = checkLookupN('ModuloHash.lookupN', n, options);
    const out: string[] = [];
    const len = this.order.length;
    const start = len === 0 ? 0 : (this.hash(key) >>> 0) % len;
    for (let i = 0; i < len && out.length < n; i++) {
      const node = this.order[(start + i) % len]!;
      if (healthy === undefined || healthy(node)) out.push(node);
    }
    return out;
  }
}
