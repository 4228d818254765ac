import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BoundedLoadRing,
  HashRing,
  JumpHash,
  Maglev,
  ModuloHash,
  Rendezvous,
  rebalancePlan,
  type Placement,
} from '../../src/hashing/index.js';

const nodeNames = (n: number): string[] => Array.from({ length: n }, (_, i) => `node-${i}`);
const keys = (n: number, prefix = 'key'): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

/** [name, factory, minimal]: minimal = only the keys that must move do (Maglev trades a little of that for balance). */
const consistent: [string, () => Placement, boolean][] = [
  ['HashRing', () => new HashRing({ vnodes: 256 }), true],
  ['Rendezvous', () => new Rendezvous(), true],
  ['Maglev', () => new Maglev({ tableSize: 4099 }), false],
];

function build(make: () => Placement, nodes: string[]): Placement {
  const p = make();
  for (const n of nodes) p.add(n);
  return p;
}

describe.each(consistent)('%s', (_name, make, minimal) => {
  it('maps the same keys the same way for any insertion order (property)', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(nodeNames(8), { minLength: 8, maxLength: 8 }), (order) => {
        const a = build(make, nodeNames(8));
        const b = build(make, order);
        for (const k of keys(200)) expect(b.lookup(k)).toBe(a.lookup(k));
      }),
      { numRuns: 20 },
    );
  });

  it('lookupN returns n distinct healthy nodes, led by lookup() when it is healthy (property)', () => {
    const p = build(make, nodeNames(7));
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 9 }), fc.subarray(nodeNames(7)), (key, n, down) => {
        const healthy = (node: string): boolean => !down.includes(node);
        const list = p.lookupN(key, n, { healthy });
        expect(new Set(list).size).toBe(list.length);
        expect(list.every(healthy)).toBe(true);
        expect(list.length).toBe(Math.min(n, 7 - down.length));
        if (healthy(p.lookup(key)!)) expect(list[0]).toBe(p.lookup(key));
        else if (list.length > 0) expect(list[0]).toBe(p.lookupN(key, 7)[p.lookupN(key, 7).findIndex(healthy)]);
      }),
      { numRuns: 300 },
    );
  });

  it(minimal ? 'moves only the removed node’s keys when a node leaves (property)' : 'moves the removed node’s keys and few others when a node leaves (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 7 }), (victimIndex) => {
        const before = build(make, nodeNames(8));
        const victim = `node-${victimIndex}`;
        const after = build(make, nodeNames(8)).remove(victim);
        let movedOthers = 0;
        const sample = keys(4000);
        for (const k of sample) {
          const was = before.lookup(k);
          if (was === victim) expect(after.lookup(k)).not.toBe(victim);
          else if (after.lookup(k) !== was) movedOthers++;
        }
        if (minimal) expect(movedOthers).toBe(0);
        else expect(movedOthers / sample.length).toBeLessThan(0.05); // Maglev: a few percent, against 1/8 that must move
      }),
      { numRuns: 8 },
    );
  });

  it('gives a joining node about 1/(n+1) of the keys, taken from the others only', () => {
    const before = build(make, nodeNames(9));
    const after = build(make, [...nodeNames(9), 'node-new']);
    let moved = 0;
    const sample = keys(20_000);
    for (const k of sample) {
      const a = before.lookup(k);
      const b = after.lookup(k);
      if (a !== b) {
        moved++;
        if (minimal) expect(b).toBe('node-new');
      }
    }
    expect(moved / sample.length).toBeGreaterThan(0.1 * 0.75);
    expect(moved / sample.length).toBeLessThan(0.1 * (minimal ? 1.35 : 1.6));
  });

  it('rejects a bad node, weight or n, naming it', () => {
    const p = make();
    expect(() => p.add('')).toThrow(/node must be a non-empty string/);
    expect(() => p.add('x', { weight: 0 })).toThrow(/weight must be a number > 0/);
    expect(() => p.add('x').lookupN('k', 0)).toThrow(/n must be an integer ≥ 1/);
  });
});

describe('HashRing', () => {
  it('balances 10 nodes within max/mean ≤ 1.05 with the default vnodes (exact, from its arcs)', () => {
    const ring = build(() => new HashRing(), nodeNames(10)) as HashRing;
    const share = new Map<string, number>();
    for (const a of ring.arcs()) share.set(a.node, (share.get(a.node) ?? 0) + a.length / 2 ** 32);
    const total = [...share.values()].reduce((x, y) => x + y, 0);
    expect(total).toBeCloseTo(1, 9);
    expect(Math.max(...share.values()) / 0.1).toBeLessThanOrEqual(1.05);
  });

  it('gives a node of weight 2 about twice the keys', () => {
    const ring = new HashRing({ vnodes: 512 }).add('small').add('big', { weight: 2 });
    let big = 0;
    for (const k of keys(30_000)) if (ring.lookup(k) === 'big') big++;
    expect(big / 30_000).toBeGreaterThan(0.62);
    expect(big / 30_000).toBeLessThan(0.71);
  });

  it('returns nothing from an empty ring', () => {
    const ring = new HashRing();
    expect(ring.lookup('k')).toBeUndefined();
    expect(ring.lookupN('k', 3)).toEqual([]);
  });

  it('maps keys the same way in two separate processes', () => {
    const script = `
      import { HashRing } from './src/hashing/index.ts';
      const ring = new HashRing();
      for (const n of ${JSON.stringify(nodeNames(10).reverse())}) ring.add(n);
      const out = [];
      for (let i = 0; i < 5000; i++) out.push(ring.lookup('key-' + i));
      console.log(JSON.stringify(out));`;
    const run = (): string[] => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0) throw new Error(r.stderr);
      return JSON.parse(r.stdout) as string[];
    };
    const here = build(() => new HashRing(), nodeNames(10));
    const mine = keys(5000).map((k) => here.lookup(k));
    expect(run()).toEqual(mine);
  });
});

describe('BoundedLoadRing', () => {
  it('never places load beyond its cap ⌈c·(load + 1)/n⌉, whatever the traffic (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ op: fc.constant('acquire' as const), key: fc.constantFrom('hot', 'hot', 'hot', 'a', 'b', 'c', 'd') }), fc.record({ op: fc.constant('release' as const), key: fc.constant('') })), { maxLength: 300 }),
        fc.double({ min: 1.05, max: 2, noNaN: true }),
        (ops, c) => {
          const ring = new BoundedLoadRing({ vnodes: 64, loadFactor: c });
          for (const n of nodeNames(5)) ring.add(n);
          const held: string[] = [];
          for (const { op, key } of ops) {
            if (op === 'acquire') {
              const cap = ring.capacity();
              const node = ring.acquire(key)!;
              held.push(node);
              expect(ring.load[node]).toBeLessThanOrEqual(cap);
            } else if (held.length > 0) {
              ring.release(held.shift()!);
            }
          }
          expect(ring.total).toBe(held.length);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('sends a key to its ring owner while the owner has room', () => {
    const ring = new BoundedLoadRing({ vnodes: 128 });
    const plain = new HashRing({ vnodes: 128 });
    for (const n of nodeNames(4)) {
      ring.add(n);
      plain.add(n);
    }
    expect(ring.acquire('user-1')).toBe(plain.lookup('user-1'));
  });

  it('spreads a single hot key over the nodes instead of melting one', () => {
    const ring = new BoundedLoadRing({ vnodes: 128, loadFactor: 1.25 });
    for (const n of nodeNames(4)) ring.add(n);
    for (let i = 0; i < 400; i++) ring.acquire('celebrity');
    expect(Math.max(...Object.values(ring.load))).toBeLessThanOrEqual(Math.ceil((1.25 * 400) / 4));
  });

  it('refuses a release without an acquire', () => {
    const ring = new BoundedLoadRing().add('a');
    expect(() => ring.release('a')).toThrow(/holds no load/);
    expect(() => new BoundedLoadRing({ loadFactor: 1 })).toThrow(/loadFactor must be a number > 1/);
  });
});

describe('JumpHash', () => {
  it('moves only 1/(n+1) of keys when a bucket is added at the end', () => {
    const a = build(() => new JumpHash(), nodeNames(9));
    const b = build(() => new JumpHash(), nodeNames(10));
    let moved = 0;
    for (const k of keys(20_000)) {
      const x = a.lookup(k);
      const y = b.lookup(k);
      if (x !== y) {
        moved++;
        expect(y).toBe('node-9');
      }
    }
    expect(moved / 20_000).toBeGreaterThan(0.08);
    expect(moved / 20_000).toBeLessThan(0.12);
  });

  it('can only remove the last node, and says so', () => {
    const j = build(() => new JumpHash(), nodeNames(3));
    expect(() => j.remove('node-0')).toThrow(/only the last node \("node-2"\) can be removed/);
    j.remove('node-2');
    expect(j.nodes).toEqual(['node-0', 'node-1']);
  });
});

describe('ModuloHash (the seed’s formula, a baseline)', () => {
  it('moves most keys when one node joins — why consistent hashing exists', () => {
    const a = build(() => new ModuloHash(), nodeNames(9));
    const b = build(() => new ModuloHash(), nodeNames(10));
    const moved = keys(10_000).filter((k) => a.lookup(k) !== b.lookup(k)).length / 10_000;
    expect(moved).toBeGreaterThan(0.85);
  });
});

describe('rebalancePlan', () => {
  it('is exact for rings: removing a node moves exactly its share, to the others', () => {
    const before = build(() => new HashRing({ vnodes: 128 }), nodeNames(5)) as HashRing;
    const after = build(() => new HashRing({ vnodes: 128 }), nodeNames(5)).remove('node-2');
    const plan = rebalancePlan(before, after);
    expect(plan.exact).toBe(true);
    const victimShare = before.arcs().filter((a) => a.node === 'node-2').reduce((s, a) => s + a.length, 0) / 2 ** 32;
    expect(plan.moved).toBeCloseTo(victimShare, 9);
    expect(plan.moves.every((m) => m.from === 'node-2' && m.to !== 'node-2')).toBe(true);
    expect(plan.moves.reduce((s, m) => s + m.share, 0)).toBeCloseTo(plan.moved, 9);
    expect(plan.ideal).toBeCloseTo(0.2);
    expect(plan.ranges!.length).toBeGreaterThan(0);
  });

  it('agrees with actual lookups', () => {
    const before = build(() => new HashRing({ vnodes: 64 }), nodeNames(6)) as HashRing;
    const after = build(() => new HashRing({ vnodes: 64 }), [...nodeNames(6), 'node-x']) as HashRing;
    const plan = rebalancePlan(before, after);
    const sample = keys(50_000);
    const observed = sample.filter((k) => before.lookup(k) !== after.lookup(k)).length / sample.length;
    expect(Math.abs(observed - plan.moved)).toBeLessThan(0.01);
  });

  it('estimates by sampling for other placements, and shows modulo moving almost everything', () => {
    const plan = rebalancePlan(build(() => new ModuloHash(), nodeNames(4)), build(() => new ModuloHash(), nodeNames(5)), { sampleKeys: 20_000 });
    expect(plan.exact).toBe(false);
    expect(plan.moved).toBeGreaterThan(0.7);
    expect(plan.ideal).toBeCloseTo(0.2);
  });
});
