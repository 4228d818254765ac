import { checkNumber, checkOptions } from '../core/options.js';
import { checkLookupN, type LookupOptions } from './placement.js';
import { HashRing, HASH_RING_DEFAULTS, type HashRingOptions } from './ring.js';
import { OptionRangeError } from '../core/errors.js';

export interface BoundedLoadRingOptions extends HashRingOptions {
  /**
   * c in Mirrokni, Thorup & Zadimoghaddam, "Consistent Hashing with Bounded Loads" (2018):
   * no node takes more than ⌈c · (load + 1) / n⌉ of the load in flight. 1.25 is their
   * suggestion; on Zipf traffic c = 1.10 cut request max/mean from 1.66 to 1.10. Default 1.25.
   */
  loadFactor?: number;
}

export const BOUNDED_LOAD_RING_DEFAULTS = Object.freeze({ loadFactor: 1.25 });

/**
 * A hash ring that will not let a hot key or an unlucky arc overload one node: `acquire(key)`
 * walks clockwise from the key to the first node below the cap, and counts the load until
 * `release(node)`. Keys still go to their ring owner whenever it has room, so placement stays
 * consistent; only the overflow spills to the next nodes.
 */
export class BoundedLoadRing extends HashRing {
  readonly loadFactor: number;
  private readonly loads = new Map<string, number>();
  private totalLoad = 0;

  constructor(options?: BoundedLoadRingOptions) {
    const { loadFactor, ...ring } = checkOptions<BoundedLoadRingOptions>('BoundedLoadRing', options, ['vnodes', 'hash', 'seed', 'loadFactor']);
    super({ vnodes: HASH_RING_DEFAULTS.vnodes, ...ring });
    this.loadFactor = checkNumber('BoundedLoadRing', 'loadFactor', loadFactor ?? BOUNDED_LOAD_RING_DEFAULTS.loadFactor, { min: 1, minExclusive: true, max: 100 });
  }

  /** Load counted on each node now. */
  get load(): Readonly<Record<string, number>> {
    return Object.fromEntries(this.nodes.map((n) => [n, this.loads.get(n) ?? 0]));
  }

  get total(): number {
    return this.totalLoad;
  }

  /** The most any node may hold once one more unit is placed: ⌈c · (total + 1) / n⌉. */
  capacity(healthyCount = this.nodes.length): number {
    return Math.ceil((this.loadFactor * (this.totalLoad + 1)) / Math.max(1, healthyCount));
  }

  /** Where `acquire(key)` would place the key now (does not count it). */
  override lookup(key: string, options?: LookupOptions): string | undefined {
    return this.choose(key, options);
  }

  /** Places one unit of load for `key` and returns its node (undefined when no node is healthy). */
  acquire(key: string, options?: LookupOptions): string | undefined {
    const node = this.choose(key, options);
    if (node === undefined) return undefined;
    this.loads.set(node, (this.loads.get(node) ?? 0) + 1);
    this.totalLoad++;
    return node;
  }

  /** Gives back one unit of load that `acquire` placed on `node`. */
  release(node: string): void {
    const load = this.loads.get(node) ?? 0;
    if (load === 0) throw new OptionRangeError(`BoundedLoadRing.release: node ${JSON.stringify(node)} holds no load (release once per acquire)`);
    this.loads.set(node, load - 1);
    this.totalLoad--;
  }

  override remove(node: string): this {
    const load = this.loads.get(node) ?? 0;
    this.loads.delete(node);
    this.totalLoad -= load;
    return super.remove(node);
  }

  private choose(key: string, options?: LookupOptions): string | undefined {
    const healthy = options === undefined ? undefined : checkLookupN('BoundedLoadRing.lookup', 1, options);
    const candidates = this.lookupN(key, this.nodes.length, healthy ? { healthy } : undefined);
    if (candidates.length === 0) return undefined;
    const cap = this.capacity(candidates.length);
    for (const node of candidates) if ((this.loads.get(node) ?? 0) < cap) return node;
    return candidates[0]; // unreachable while loadFactor > 1: the caps sum to more than the load
  }
}
