import { checkInteger, checkOptions } from '../core/options.js';
import { murmur3, type HashFunction } from './hash.js';
import { checkLookupN, checkNode, checkWeight, NodeSet, type AddOptions, type LookupOptions, type Placement } from './placement.js';
import { OptionRangeError } from '../core/errors.js';

export interface MaglevOptions {
  /** Lookup table size, a prime well above the node count (Google uses 65 537). Default 65 537. */
  tableSize?: number;
  hash?: HashFunction;
}

export const MAGLEV_DEFAULTS = Object.freeze({ tableSize: 65_537 });

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/**
 * Maglev hashing (Eisenbud et al., NSDI 2016): each node fills a lookup table along its own
 * permutation, taking turns, so every node owns ⌊M/n⌋ or ⌈M/n⌉ slots — near-perfect balance
 * and a lookup that is one hash and one array read. A membership change moves a little more
 * than the ideal share (the paper's trade for balance). Weights are honoured as turns per round.
 */
export class Maglev implements Placement {
  readonly tableSize: number;
  private readonly set = new NodeSet();
  private readonly hash: HashFunction;
  private table = new Int32Array(0);

  constructor(options?: MaglevOptions) {
    const o = checkOptions<MaglevOptions>('Maglev', options, ['tableSize', 'hash']);
    this.tableSize = checkInteger('Maglev', 'tableSize', o.tableSize ?? MAGLEV_DEFAULTS.tableSize, { min: 7, max: 10_000_019 });
    if (!isPrime(this.tableSize)) throw new OptionRangeError(`Maglev: tableSize must be a prime (e.g. 65537, 655373), got ${this.tableSize}`);
    this.hash = o.hash ?? murmur3;
  }

  get nodes(): readonly string[] {
    return this.set.names;
  }
  has(node: string): boolean {
    return this.set.has(node);
  }
  add(node: string, options?: AddOptions): this {
    checkNode('Maglev.add', node);
    if (this.set.size >= this.tableSize) throw new OptionRangeError(`Maglev.add: tableSize ${this.tableSize} must exceed the node count`);
    if (this.set.set(node, checkWeight('Maglev.add', options))) this.rebuild();
    return this;
  }
  remove(node: string): this {
    if (this.set.delete(node)) this.rebuild();
    return this;
  }

  lookup(key: string): string | undefined {
    if (this.table.length === 0) return undefined;
    return this.set.names[this.table[(this.hash(key) >>> 0) % this.tableSize]!];
  }

  /** The slot owner first, then the next distinct owners along the table. */
  lookupN(key: string, n: number, options?: LookupOptions): string[] {
    const healthy = checkLookupN('Maglev.lookupN', n, options);
    const names = this.set.names;
    const out: string[] = [];
    if (this.table.length === 0) return out;
    const seen = new Uint8Array(names.length);
    let distinct = 0;
    let slot = (this.hash(key) >>> 0) % this.tableSize;
    for (let steps = 0; steps < this.tableSize && out.length < n && distinct < names.length; steps++) {
      const owner = this.table[slot]!;
      if (!seen[owner]) {
        seen[owner] = 1;
        distinct++;
        if (healthy === undefined || healthy(names[owner]!)) out.push(names[owner]!);
      }
      slot = slot + 1 === this.tableSize ? 0 : slot + 1;
    }
    return out;
  }

  private rebuild(): void {
    const names = this.set.names;
    const M = this.tableSize;
    const table = new Int32Array(M).fill(-1);
    if (names.length === 0) {
      this.table = new Int32Array(0);
      return;
    }
    const offset = names.map((n) => (this.hash(n, 0xdeadbeef) >>> 0) % M);
    const skip = names.map((n) => ((this.hash(n, 0x5eed) >>> 0) % (M - 1)) + 1);
    const next = new Array<number>(names.length).fill(0);
    const minWeight = Math.min(...names.map((n) => this.set.weight(n)));
    const turns = names.map((n) => Math.max(1, Math.round(this.set.weight(n) / minWeight)));
    let filled = 0;
    while (filled < M) {
      for (let i = 0; i < names.length && filled < M; i++) {
        for (let t = 0; t < turns[i]! && filled < M; t++) {
          let c = (offset[i]! + next[i]! * skip[i]!) % M;
          while (table[c]! >= 0) {
            next[i]!++;
            c = (offset[i]! + next[i]! * skip[i]!) % M;
          }
          table[c] = i;
          next[i]!++;
          filled++;
        }
      }
    }
    this.table = table;
  }
}
