import { describe, expect, it } from 'vitest';
import { checkLinearizable, registerModel, type LinearModel, type LinearOp, type RegisterInput } from '../../src/metrics/linearizable.js';
import { seededRandom } from '../../src/core/random.js';
import { InvalidOptionError, OptionRangeError } from '../../src/core/errors.js';

type Op = LinearOp<RegisterInput<number>, unknown>;
const reg = registerModel<number>({ initial: 0 });
const w = (value: number, call: number, ret: number | undefined, process?: number): Op => ({ input: { f: 'write', value }, call, return: ret, ...(process === undefined ? {} : { process }) });
const r = (output: number, call: number, ret: number, process?: number): Op => ({ input: { f: 'read' }, output, call, return: ret, ...(process === undefined ? {} : { process }) });
const cas = (from: number, to: number, ok: boolean | undefined, call: number, ret: number | undefined): Op => ({ input: { f: 'cas', from, to }, output: ok, call, return: ret });

describe('checkLinearizable: published register histories', () => {
  // MIT 6.824 (2017), quiz 2, section VII — the examples Porcupine's tests use.
  it('write(100) over [0,100], read → 100 over [25,75], read → 0 over [30,60]: linearizable', () => {
    const res = checkLinearizable([w(100, 0, 100, 0), r(100, 25, 75, 1), r(0, 30, 60, 2)], reg);
    expect(res.valid).toBe(true);
    expect(res).toMatchObject({ operations: 3, pending: 0, partitions: 1 });
  });

  it('write(200) over [0,100], read → 200 over [10,30], then read → 0 over [40,90]: not linearizable, with the counterexample', () => {
    const res = checkLinearizable([w(200, 0, 100, 0), r(200, 10, 30, 1), r(0, 40, 90, 2)], reg);
    expect(res.valid).toBe(false);
    expect(res.counterexample?.stuck).toEqual({ index: 2, process: 2, op: 'read() → 0' });
    expect(res.counterexample?.linearized.map((x) => x.op)).toEqual(['write(200)', 'read() → 200']);
  });

  it('a read that sees a completed write’s old value is stale', () => {
    expect(checkLinearizable([w(1, 0, 10), r(0, 20, 30)], reg).valid).toBe(false);
    expect(checkLinearizable([w(1, 0, 10), r(1, 20, 30)], reg).valid).toBe(true);
  });

  it('reads concurrent with a write may see old then new, never new then old', () => {
    expect(checkLinearizable([w(1, 0, 100), r(0, 10, 20), r(1, 30, 40)], reg).valid).toBe(true);
    expect(checkLinearizable([w(1, 0, 100), r(1, 10, 20), r(0, 30, 40)], reg).valid).toBe(false);
  });

  it('intervals that touch are concurrent', () => {
    expect(checkLinearizable([w(1, 0, 10), r(0, 10, 20)], reg).valid).toBe(true);
  });

  it('a write whose outcome is unknown may have taken effect — once, at any time after its call — or never', () => {
    expect(checkLinearizable([w(1, 0, undefined), r(1, 50, 60)], reg).valid).toBe(true);
    expect(checkLinearizable([w(1, 0, undefined), r(0, 50, 60)], reg).valid).toBe(true);
    expect(checkLinearizable([w(1, 0, undefined), r(1, 50, 60), r(0, 70, 80)], reg).valid).toBe(false);
    // It cannot take effect before it was sent.
    expect(checkLinearizable([r(1, 0, 10), w(1, 20, undefined)], reg).valid).toBe(false);
    expect(checkLinearizable([w(1, 0, undefined)], reg)).toMatchObject({ valid: true, pending: 1 });
  });

  it('compare-and-set: of two concurrent cas(0, x) from 0, only one may succeed', () => {
    expect(checkLinearizable([cas(0, 1, true, 0, 10), cas(0, 2, true, 0, 10)], reg).valid).toBe(false);
    expect(checkLinearizable([cas(0, 1, true, 0, 10), cas(0, 2, false, 0, 10), r(1, 20, 30)], reg).valid).toBe(true);
    expect(checkLinearizable([cas(0, 1, true, 0, 10), cas(0, 2, false, 0, 10), r(2, 20, 30)], reg).valid).toBe(false);
    // An unknown cas may have succeeded.
    expect(checkLinearizable([cas(0, 5, undefined, 0, undefined), r(5, 20, 30)], reg).valid).toBe(true);
    expect(checkLinearizable([cas(1, 5, undefined, 0, undefined), r(5, 20, 30)], reg).valid).toBe(false);
  });

  it('registers under different keys are checked apart', () => {
    const kv = registerModel<number>();
    const ops: LinearOp<RegisterInput<number>>[] = [
      { input: { f: 'write', key: 'a', value: 1 }, call: 0, return: 10 },
      { input: { f: 'write', key: 'b', value: 2 }, call: 0, return: 10 },
      { input: { f: 'read', key: 'a' }, output: 1, call: 20, return: 30 },
      { input: { f: 'read', key: 'b' }, output: 2, call: 20, return: 30 },
      { input: { f: 'read', key: 'c' }, output: null, call: 20, return: 30 },
    ];
    expect(checkLinearizable(ops, kv)).toMatchObject({ valid: true, partitions: 3 });
    ops.push({ input: { f: 'read', key: 'b' }, output: 1, call: 40, return: 50 });
    const res = checkLinearizable(ops, kv);
    expect(res.valid).toBe(false);
    expect(res.counterexample).toMatchObject({ partition: 'b', stuck: { index: 5, op: 'b.read() → 1' } });
  });
});

describe('checkLinearizable: a queue model of the caller’s (Herlihy & Wing’s FIFO queue)', () => {
  type Q = { f: 'enq'; v: string } | { f: 'deq' };
  const queue: LinearModel<string[], Q, string | undefined> = {
    init: () => [],
    step(state, input, output, known) {
      if (input.f === 'enq') return [...state, input.v];
      if (!known) return state.slice(1);
      return state[0] === output ? state.slice(1) : undefined;
    },
  };
  it('E(x) ∥ E(y), then D → y, D → x: linearizable (y enqueued first)', () => {
    const h: LinearOp<Q, string | undefined>[] = [
      { input: { f: 'enq', v: 'x' }, call: 0, return: 10 },
      { input: { f: 'enq', v: 'y' }, call: 1, return: 9 },
      { input: { f: 'deq' }, output: 'y', call: 20, return: 30 },
      { input: { f: 'deq' }, output: 'x', call: 40, return: 50 },
    ];
    expect(checkLinearizable(h, queue).valid).toBe(true);
  });
  it('E(x) before E(y), then D → y: not linearizable', () => {
    const h: LinearOp<Q, string | undefined>[] = [
      { input: { f: 'enq', v: 'x' }, call: 0, return: 10 },
      { input: { f: 'enq', v: 'y' }, call: 20, return: 30 },
      { input: { f: 'deq' }, output: 'y', call: 40, return: 50 },
    ];
    expect(checkLinearizable(h, queue).valid).toBe(false);
  });
});

/** Every order the real-time order allows, every subset of the unknown outcomes taking effect. */
function bruteForce<S, I, O>(history: LinearOp<I, O>[], model: LinearModel<S, I, O>): boolean {
  const n = history.length;
  const before = (a: number, b: number): boolean => history[a]!.return !== undefined && history[a]!.return! < history[b]!.call;
  const done = new Array<boolean>(n).fill(false);
  const go = (state: S, placedCompleted: number, completed: number): boolean => {
    if (placedCompleted === completed) return true;
    for (let i = 0; i < n; i++) {
      if (done[i]) continue;
      // i may go next only if every op that must precede it has been placed, or is an unknown
      // outcome we leave out (an unknown op never precedes anything: its return is infinite).
      let ok = true;
      for (let j = 0; j < n && ok; j++) if (j !== i && !done[j] && before(j, i)) ok = false;
      if (!ok) continue;
      const known = history[i]!.return !== undefined;
      const next = model.step(state, history[i]!.input, known ? history[i]!.output : undefined, known);
      if (next === undefined) continue;
      done[i] = true;
      if (go(next, placedCompleted + (known ? 1 : 0), completed)) return (done[i] = false), true;
      done[i] = false;
    }
    return false;
  };
  return go(model.init(), 0, history.filter((o) => o.return !== undefined).length);
}

/**
 * A history of `clients` clients against an atomic register: each op takes effect at one instant
 * inside its interval, and its answer is what the register held then — linearizable by
 * construction. With `pendingShare`, some ops never answer (and took effect or not).
 */
function atomicHistory(seed: number, clients: number, perClient: number, pendingShare = 0): Op[] {
  const random = seededRandom(seed);
  const ops: (Op & { at: number; effect: boolean })[] = [];
  for (let c = 0; c < clients; c++) {
    let t = random() * 10;
    for (let k = 0; k < perClient; k++) {
      const call = t;
      const ret = call + 1 + random() * 30;
      const pending = random() < pendingShare;
      const x = random();
      const input: RegisterInput<number> = x < 0.4 ? { f: 'read' } : x < 0.8 ? { f: 'write', value: Math.floor(random() * 5) } : { f: 'cas', from: Math.floor(random() * 5), to: Math.floor(random() * 5) };
      ops.push({ input, call, return: pending ? undefined : ret, process: c, at: call + random() * (ret - call), effect: !pending || random() < 0.5 });
      if (pending) break; // a client whose op never answered stops (as a crashed Jepsen process)
      t = ret + random() * 5;
    }
  }
  let value = 0;
  for (const op of [...ops].sort((a, b) => a.at - b.at)) {
    if (!op.effect) continue;
    if (op.input.f === 'read') op.output = value;
    else if (op.input.f === 'write') value = op.input.value;
    else {
      op.output = value === op.input.from;
      if (op.output) value = op.input.to;
    }
  }
  return ops.map(({ at: _at, effect: _effect, ...op }) => op);
}

describe('checkLinearizable against an exhaustive search', () => {
  it('agrees with trying every order on 400 small random histories, linearizable or not', () => {
    const random = seededRandom(11);
    let valid = 0;
    let invalid = 0;
    for (let seed = 0; seed < 400; seed++) {
      const h = atomicHistory(seed, 3, 2, 0.15);
      // Break about half of them: a read or a cas answers something else.
      if (random() < 0.5) {
        const reads = h.filter((o) => o.return !== undefined && o.input.f !== 'write');
        const victim = reads[Math.floor(random() * reads.length)];
        if (victim) victim.output = victim.input.f === 'read' ? Math.floor(random() * 5) : !victim.output;
      }
      const expected = bruteForce(h, reg);
      expect(checkLinearizable(h, reg).valid, `seed ${seed}: ${JSON.stringify(h)}`).toBe(expected);
      if (expected) valid++;
      else invalid++;
    }
    // Both kinds were tried, in numbers.
    expect(valid).toBeGreaterThan(100);
    expect(invalid).toBeGreaterThan(50);
  });
});

describe('checkLinearizable at the size of a run', () => {
  it('accepts 10 clients × 200 operations against an atomic register', () => {
    const h = atomicHistory(3, 10, 200, 0.002);
    expect(h.length).toBeGreaterThan(1000);
    expect(checkLinearizable(h, reg)).toMatchObject({ valid: true, operations: h.length });
  });

  it('catches one read, of 700 operations, changed to a value never written — and says which', () => {
    const h = atomicHistory(4, 5, 200, 0.002);
    expect(checkLinearizable(h, reg).valid).toBe(true);
    const victim = h.find((o, i) => i > h.length / 2 && o.input.f === 'read' && o.return !== undefined)!;
    victim.output = 99;
    const broken = checkLinearizable(h, reg);
    expect(broken.valid).toBe(false);
    expect(broken.counterexample?.stuck).toMatchObject({ index: h.indexOf(victim), op: 'read() → 99' });
  });

  it('answers unknown, not a guess, when the search outgrows maxSteps', () => {
    const h = atomicHistory(5, 10, 50);
    const res = checkLinearizable(h, reg, { maxSteps: 10 });
    expect(res.valid).toBe('unknown');
    expect(res.reason).toMatch(/maxSteps/);
    expect(res.steps).toBe(10);
  });
});

describe('checkLinearizable: bad input', () => {
  it('names the field and what it accepts', () => {
    expect(() => checkLinearizable([{ input: { f: 'read' }, call: Number.NaN, return: 1 }], reg)).toThrow(InvalidOptionError);
    expect(() => checkLinearizable([{ input: { f: 'read' }, call: 5, return: 1 }], reg)).toThrow(/history\[0\]\.return must be a finite number ≥ its call \(5\)/);
    expect(() => checkLinearizable([], reg, { maxSteps: 0 })).toThrow(OptionRangeError);
    expect(() => checkLinearizable([], reg, { steps: 5 } as never)).toThrow(/steps/);
    expect(() => checkLinearizable([], {} as never)).toThrow(/model\.init must be a function/);
    expect(() => checkLinearizable([{ input: { f: 'incr' } as never, call: 0, return: 1 }], reg)).toThrow(/'read', 'write' or 'cas'/);
  });
});
