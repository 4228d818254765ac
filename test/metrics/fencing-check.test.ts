import { describe, expect, it } from 'vitest';
import { checkFencing, type FencedWrite } from '../../src/metrics/fencing-check.js';
import { FencedStore, StaleTokenError } from '../../src/election/fencing.js';
import { seededRandom } from '../../src/core/random.js';
import { InvalidOptionError } from '../../src/core/errors.js';

describe('checkFencing', () => {
  it('passes tokens that only grow, and counts what was refused', () => {
    const res = checkFencing([
      { resource: 'r', token: 1, accepted: true, writer: 'a' },
      { resource: 'r', token: 1, accepted: true, writer: 'a' },
      { resource: 'r', token: 2, accepted: true, writer: 'b' },
      { resource: 'r', token: 1, accepted: false, writer: 'a' },
      { resource: 's', token: 1, accepted: true, writer: 'a' },
    ]);
    expect(res).toEqual({ valid: true, writes: 5, accepted: 4, rejected: 1, resources: 2, violations: [], refusedCurrent: 0 });
  });

  it('catches a write accepted with a token lower than one already accepted', () => {
    const res = checkFencing([
      { resource: 'r', token: 1, accepted: true, writer: 'a', at: 10 },
      { resource: 'r', token: 2, accepted: true, writer: 'b', at: 20 },
      { resource: 'r', token: 1, accepted: true, writer: 'a', at: 30 },
    ]);
    expect(res.valid).toBe(false);
    expect(res.violations).toEqual([{ index: 2, kind: 'stale-token', resource: 'r', token: 1, highest: 2, writer: 'a', highestWriter: 'b', at: 30 }]);
  });

  it('catches two writers accepted under one token (two leaders in one term)', () => {
    const res = checkFencing([
      { resource: 'r', token: 3, accepted: true, writer: 'a' },
      { resource: 'r', token: 3, accepted: true, writer: 'b' },
    ]);
    expect(res.violations.map((v) => v.kind)).toEqual(['shared-token']);
  });

  it('counts a refused write whose token was current as refusedCurrent (safe, not a violation)', () => {
    const res = checkFencing([{ resource: 'r', token: 4, accepted: false }]);
    expect(res).toMatchObject({ valid: true, refusedCurrent: 1 });
  });

  it('rejects malformed writes, naming the field', () => {
    expect(() => checkFencing([{ resource: 'r', token: 'x', accepted: true } as never])).toThrow(InvalidOptionError);
    expect(() => checkFencing([{ resource: 'r', token: 1 } as never])).toThrow(/write 0: accepted must be true or false/);
  });
});

/**
 * Two leaders write to one store: a, with token 1, until b is elected with token 2 — and a,
 * deposed but not yet aware (a long GC pause, a partition), keeps writing for a while.
 */
function leaderChange(seed: number, write: (writer: string, token: number, i: number) => boolean): FencedWrite[] {
  const random = seededRandom(seed);
  const out: FencedWrite[] = [];
  const elected = 20 + Math.floor(random() * 20);
  for (let i = 0; i < 100; i++) {
    const a = i < elected || random() < 0.3; // a's late writes after b took over
    const [writer, token] = a ? ['a', 1] : ['b', 2];
    out.push({ resource: 'maintenance', token, writer, accepted: write(writer, token, i), at: i });
  }
  return out;
}

describe('checkFencing, checked against a fence that holds and one that does not', () => {
  it('finds no violation in what FencedStore accepted, across seeds', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const store = new FencedStore<number>();
      const history = leaderChange(seed, (_w, token, i) => {
        try {
          store.write('maintenance', i, token);
          return true;
        } catch (err) {
          if (err instanceof StaleTokenError) return false;
          throw err;
        }
      });
      const res = checkFencing(history);
      expect(res.valid).toBe(true);
      expect(res.rejected).toBeGreaterThan(0); // the deposed leader's late writes were refused
    }
  });

  it('catches every seed when the fence is off (each write accepted)', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const res = checkFencing(leaderChange(seed, () => true));
      expect(res.valid).toBe(false);
      expect(res.violations.every((v) => v.kind === 'stale-token' && v.writer === 'a' && v.highestWriter === 'b')).toBe(true);
    }
  });
});
