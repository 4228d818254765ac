import { checkFunction, checkInteger, checkNumber, checkOptions, checkString } from '../core/options.js';
import { OptionRangeError } from '../core/errors.js';

export interface LookupOptions {
  /** Skip nodes for which this returns false (down, ejected, draining). */
  healthy?: (node: string) => boolean;
}

export interface AddOptions {
  /** Relative capacity: a node of weight 2 gets twice the keys of a node of weight 1. Default 1. */
  weight?: number;
}

/**
 * Where keys live. Every placement maps the same keys to the same nodes in every process.
 * HashRing, Rendezvous and Maglev do so for any order of `add` calls: their mapping depends only
 * on the set of nodes and weights. JumpHash and ModuloHash (OrderedPlacement) are the
 * exception: the order of `add` calls *is* their mapping, so every process must add the nodes in
 * the same order. BoundedLoadRing's `lookup` also depends on the load in flight (`acquire`).
 */
export interface Placement {
  /** The nodes: sorted by name, except OrderedPlacement's, which are in insertion order. */
  readonly nodes: readonly string[];
  add(node: string, options?: AddOptions): this;
  remove(node: string): this;
  has(node: string): boolean;
  /** The node for `key`, or undefined when there is none. */
  lookup(key: string): string | undefined;
  /**
   * A preference list: up to `n` distinct nodes for `key`, best first, skipping unhealthy
   * ones — replicas and failover from one call. Shorter than `n` only when fewer healthy
   * nodes exist.
   */
  lookupN(key: string, n: number, options?: LookupOptions): string[];
}

export function checkNode(scope: string, node: unknown): string {
  return checkString(scope, 'node', node);
}

export function checkWeight(scope: string, options: AddOptions | undefined): number {
  const o = checkOptions<AddOptions>(scope, options, ['weight']);
  return checkNumber(scope, 'weight', o.weight ?? 1, { min: 0, minExclusive: true, max: 1000 });
}

export function checkLookupN(scope: string, n: unknown, options: LookupOptions | undefined): ((node: string) => boolean) | undefined {
  checkInteger(scope, 'n', n, { min: 1 });
  const o = checkOptions<LookupOptions>(scope, options, ['healthy']);
  return o.healthy === undefined ? undefined : checkFunction<(node: string) => boolean>(scope, 'healthy', o.healthy);
}

/** Nodes and weights, kept sorted by name so that insertion order never matters. */
export class NodeSet {
  private readonly weights = new Map<string, number>();
  private sorted: string[] = [];

  get names(): readonly string[] {
    return this.sorted;
  }
  get size(): number {
    return this.sorted.length;
  }
  has(node: string): boolean {
    return this.weights.has(node);
  }
  weight(node: string): number {
    return this.weights.get(node) ?? 0;
  }
  set(node: string, weight: number): boolean {
    const had = this.weights.get(node);
    if (had === weight) return false;
    this.weights.set(node, weight);
    if (had === undefined) this.sorted = [...this.weights.keys()].sort(compareStrings);
    return true;
  }
  delete(node: string): boolean {
    if (!this.weights.delete(node)) return false;
    this.sorted = this.sorted.filter((n) => n !== node);
    return true;
  }
}

/** Code-unit order: the same in every locale and process (localeCompare is not). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A placement whose nodes are numbered in insertion order (jump hash, modulo): the order *is*
 * the mapping, and weights have no meaning.
 */
export abstract class OrderedPlacement implements Placement {
  protected readonly order: string[] = [];

  constructor(protected readonly scope: string) {}

  /** Insertion order, not sorted: the order is the mapping. */
  get nodes(): readonly string[] {
    return this.order;
  }
  has(node: string): boolean {
    return this.order.includes(node);
  }
  add(node: string, options?: AddOptions): this {
    checkNode(`${this.scope}.add`, node);
    if (checkWeight(`${this.scope}.add`, options) !== 1) throw new OptionRangeError(`${this.scope}.add: weights are not supported (use HashRing, Rendezvous or Maglev)`);
    if (!this.order.includes(node)) this.order.push(node);
    return this;
  }
  remove(node: string): this {
    const i = this.order.indexOf(node);
    if (i >= 0) this.order.splice(i, 1);
    return this;
  }
  abstract lookup(key: string): string | undefined;
  abstract lookupN(key: string, n: number, options?: LookupOptions): string[];
}
