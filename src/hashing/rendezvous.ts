import { checkInteger, checkOptions } from '../core/options.js';
import { murmur3, type HashFunction } from './hash.js';
import { checkLookupN, checkNode, checkWeight, compareStrings, NodeSet, type AddOptions, type LookupOptions, type Placement } from './placement.js';

export interface RendezvousOptions {
  hash?: HashFunction;
  seed?: number;
}

/**
 * Rendezvous (highest random weight) hashing, Thaler & Ravishankar (1998), weighted by the
 * logarithmic method (Schindelhauer & Schomaker): score = −weight / ln(u), u = hash(key, node)
 * in (0, 1). Perfectly even in expectation with no virtual nodes and any node removable;
 * a lookup costs one hash per node.
 */
export class Rendezvous implements Placement {
  private readonly set = new NodeSet();
  private readonly hash: HashFunction;
  private readonly seed: number;
  private nodeSeeds = new Uint32Array(0);
  private nodeWeights = new Float64Array(0);

  constructor(options?: RendezvousOptions) {
    const o = checkOptions<RendezvousOptions>('Rendezvous', options, ['hash', 'seed']);
    this.hash = o.hash ?? murmur3;
    this.seed = checkInteger('Rendezvous', 'seed', o.seed ?? 0, { min: 0, max: 2 ** 32 - 1 });
  }

  get nodes(): readonly string[] {
    return this.set.names;
  }
  has(node: string): boolean {
    return this.set.has(node);
  }
  add(node: string, options?: AddOptions): this {
    checkNode('Rendezvous.add', node);
    if (this.set.set(node, checkWeight('Rendezvous.add', options))) this.rebuild();
    return this;
  }
  remove(node: string): this {
    if (this.set.delete(node)) this.rebuild();
    return this;
  }

  lookup(key: string): string | undefined {
    const names = this.set.names;
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i < names.length; i++) {
      const s = this.score(key, i);
      if (s > bestScore) {
        bestScore = s;
        best = i;
      }
    }
    return best < 0 ? undefined : names[best];
  }

  lookupN(key: string, n: number, options?: LookupOptions): string[] {
    const healthy = checkLookupN('Rendezvous.lookupN', n, options);
    const names = this.set.names;
    const scored = names.map((node, i) => ({ node, s: this.score(key, i) })).filter((x) => healthy === undefined || healthy(x.node));
    scored.sort((a, b) => b.s - a.s || compareStrings(a.node, b.node));
    return scored.slice(0, n).map((x) => x.node);
  }

  private score(key: string, i: number): number {
    const u = ((this.hash(key, this.nodeSeeds[i]!) >>> 0) + 0.5) / 4294967296;
    return -this.nodeWeights[i]! / Math.log(u);
  }

  private rebuild(): void {
    const names = this.set.names;
    this.nodeSeeds = Uint32Array.from(names, (n) => this.hash(n, this.seed) >>> 0);
    this.nodeWeights = Float64Array.from(names, (n) => this.set.weight(n));
  }
}
