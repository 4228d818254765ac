import { InvalidOptionError } from '../core/errors.js';
import { checkFunction, checkInteger, checkOptions } from '../core/options.js';

/**
 * One operation of a concurrent history, as a client saw it: invoked at `call`, answered at
 * `return` with `output`. Leave out `return` when the outcome is unknown (a timeout, a dropped
 * connection): the operation may have taken effect at any moment after `call`, or never.
 */
export interface LinearOp<I = unknown, O = unknown> {
  input: I;
  /** What it answered (ignored when `return` is left out). */
  output?: O;
  /** When it was invoked — any unit, the same clock for every operation. */
  call: number;
  /** When its answer arrived; undefined: the outcome is unknown. */
  return?: number | undefined;
  /** Who ran it (a client id), for the counterexample. */
  process?: string | number;
}

/**
 * The sequential specification the history is checked against. `step` returns the state after
 * `input` ran in `state` and answered `output`, or undefined when it could not have answered
 * that. With `known` false the answer never arrived (`output` is undefined): return the state
 * as if it took effect — never taking effect at all the checker tries on its own.
 */
export interface LinearModel<S = unknown, I = unknown, O = unknown> {
  init(): S;
  step(state: S, input: I, output: O | undefined, known: boolean): S | undefined;
  /** Equal for equal states, for the search's cache (default: JSON.stringify). */
  key?(state: S): string;
  /** Operations on different parts (keys) are independent, and checked apart (default: one part). */
  partition?(input: I): string;
  /** A line for the counterexample (default: the input and output as JSON); `known` as for step. */
  describe?(input: I, output: O | undefined, known: boolean): string;
}

export interface LinearizabilityOptions {
  /** Search steps (an operation tried, or taken back) before the check gives up as 'unknown'. Default 10 000 000. */
  maxSteps?: number;
}

export const LINEARIZABILITY_DEFAULTS = Object.freeze({ maxSteps: 10_000_000 });

export interface LinearizabilityResult {
  /** 'unknown': the search ran out of steps (maxSteps) before it could decide. */
  valid: boolean | 'unknown';
  operations: number;
  /** Operations whose outcome is unknown (no `return`). */
  pending: number;
  partitions: number;
  steps: number;
  /** Why the answer is 'unknown'. */
  reason?: string;
  /**
   * When not linearizable: the part that is not, the longest order of its operations the search
   * found consistent with the model, and the completed operation that could not come after it.
   */
  counterexample?: {
    partition: string;
    linearized: { index: number; process?: string | number; op: string }[];
    stuck: { index: number; process?: string | number; op: string };
  };
}

/**
 * Whether a concurrent history is linearizable with respect to `model`: is there one order of
 * its operations, each placed at an instant between its call and its return, in which every
 * answer is what the model would have given? The Wing–Gong search with Lowe's memoisation of
 * (operations placed, state) — the algorithm of Knossos and Porcupine — over each part of the
 * history apart (`model.partition`). Operations whose outcome is unknown may take effect
 * anywhere after their call, or not at all. Operations whose intervals touch count as concurrent.
 *
 * Exponential in the worst case: `maxSteps` bounds the search, and an undecided check answers
 * 'unknown' rather than guess.
 */
export function checkLinearizable<S, I, O>(history: readonly LinearOp<I, O>[], model: LinearModel<S, I, O>, options?: LinearizabilityOptions): LinearizabilityResult {
  const scope = 'checkLinearizable';
  const o = checkOptions<LinearizabilityOptions>(scope, options, ['maxSteps']);
  const maxSteps = checkInteger(scope, 'maxSteps', o.maxSteps ?? LINEARIZABILITY_DEFAULTS.maxSteps, { min: 1 });
  if (!Array.isArray(history)) throw new InvalidOptionError(`${scope}: history must be an array of { input, output?, call, return? }, got ${typeof history}`);
  if (model === null || typeof model !== 'object') throw new InvalidOptionError(`${scope}: model must be an object with init() and step(), got ${String(model)}`);
  checkFunction(scope, 'model.init', model.init);
  checkFunction(scope, 'model.step', model.step);
  for (const name of ['key', 'partition', 'describe'] as const) if (model[name] !== undefined) checkFunction(scope, `model.${name}`, model[name]);
  let pending = 0;
  history.forEach((op, i) => {
    if (op === null || typeof op !== 'object') throw new InvalidOptionError(`${scope}: history[${i}] must be an object { input, output?, call, return? }`);
    if (typeof op.call !== 'number' || !Number.isFinite(op.call)) throw new InvalidOptionError(`${scope}: history[${i}].call must be a finite number, got ${String(op.call)}`);
    if (op.return === undefined) pending++;
    else if (typeof op.return !== 'number' || !Number.isFinite(op.return) || op.return < op.call) throw new InvalidOptionError(`${scope}: history[${i}].return must be a finite number ≥ its call (${op.call}), or left out for an unknown outcome; got ${String(op.return)}`);
  });

  const parts = new Map<string, number[]>();
  history.forEach((op, i) => {
    const p = model.partition ? model.partition(op.input) : '';
    let list = parts.get(p);
    if (!list) parts.set(p, (list = []));
    list.push(i);
  });
  const result: LinearizabilityResult = { valid: true, operations: history.length, pending, partitions: parts.size, steps: 0 };
  const budget = { left: maxSteps };
  for (const [name, indexes] of parts) {
    const r = searchPart(history, indexes, model, budget);
    result.steps = maxSteps - budget.left;
    if (r.kind === 'invalid') {
      const describe = (index: number): { index: number; process?: string | number; op: string } => {
        const op = history[index]!;
        const known = op.return !== undefined;
        const text = model.describe ? model.describe(op.input, known ? op.output : undefined, known) : `${JSON.stringify(op.input)} → ${known ? JSON.stringify(op.output) : 'unknown'}`;
        return op.process === undefined ? { index, op: text } : { index, process: op.process, op: text };
      };
      return { ...result, valid: false, counterexample: { partition: name, linearized: r.linearized.map(describe), stuck: describe(r.stuck) } };
    }
    if (r.kind === 'unknown') return { ...result, valid: 'unknown', reason: `gave up after ${maxSteps} search steps (maxSteps) in part ${JSON.stringify(name)}; raise maxSteps, or check a shorter history` };
  }
  return result;
}

type PartResult = { kind: 'valid' } | { kind: 'unknown' } | { kind: 'invalid'; linearized: number[]; stuck: number };

/** The search over one part: `indexes` into `history`. */
function searchPart<S, I, O>(history: readonly LinearOp<I, O>[], indexes: number[], model: LinearModel<S, I, O>, budget: { left: number }): PartResult {
  const m = indexes.length;
  // Entries: a call and a return per operation, in time order; at equal times calls first
  // (touching intervals are concurrent); an unknown outcome returns after everything.
  const time = (e: number): number => {
    const op = history[indexes[e >> 1]!]!;
    return e & 1 ? (op.return ?? Infinity) : op.call;
  };
  const order = Array.from({ length: 2 * m }, (_, e) => e).sort((a, b) => time(a) - time(b) || (a & 1) - (b & 1) || a - b);
  // A doubly linked list over the entries (positions in `order`), with a head sentinel at 2m.
  const head = 2 * m;
  const next = new Int32Array(2 * m + 1);
  const prev = new Int32Array(2 * m + 1);
  const match = new Int32Array(2 * m); // call position → its return's position
  const opAt = new Int32Array(2 * m); // position → operation (index into `indexes`)
  const posOf = new Int32Array(2 * m);
  order.forEach((e, pos) => {
    posOf[e] = pos;
    opAt[pos] = e >> 1;
  });
  for (let k = 0; k < m; k++) match[posOf[2 * k]!] = posOf[2 * k + 1]!;
  next[head] = 2 * m > 0 ? 0 : -1;
  prev[head] = -1;
  for (let pos = 0; pos < 2 * m; pos++) {
    next[pos] = pos + 1 < 2 * m ? pos + 1 : -1;
    prev[pos] = pos === 0 ? head : pos - 1;
  }
  const isCall = (pos: number): boolean => (order[pos]! & 1) === 0;
  const lift = (pos: number): void => {
    const r = match[pos]!;
    next[prev[pos]!] = next[pos]!;
    if (next[pos]! !== -1) prev[next[pos]!] = prev[pos]!;
    next[prev[r]!] = next[r]!;
    if (next[r]! !== -1) prev[next[r]!] = prev[r]!;
  };
  const unlift = (pos: number): void => {
    const r = match[pos]!;
    next[prev[r]!] = r;
    if (next[r]! !== -1) prev[next[r]!] = r;
    next[prev[pos]!] = pos;
    if (next[pos]! !== -1) prev[next[pos]!] = pos;
  };

  const keyOf = model.key ?? ((s: S): string => JSON.stringify(s) ?? 'undefined');
  const words = Math.max(1, Math.ceil(m / 32));
  const placed = new Uint32Array(words);
  // Lowe's cache: (operations placed, state) already explored from — do not explore again.
  const seen = new Map<number, { bits: Uint32Array; key: string }[]>();
  const remember = (key: string): boolean => {
    let h = 0x811c9dc5;
    for (let w = 0; w < words; w++) h = Math.imul(h ^ placed[w]!, 0x01000193);
    for (let c = 0; c < key.length; c++) h = Math.imul(h ^ key.charCodeAt(c), 0x01000193);
    let bucket = seen.get(h);
    if (!bucket) seen.set(h, (bucket = []));
    for (const b of bucket) if (b.key === key && b.bits.every((x, w) => x === placed[w])) return false;
    bucket.push({ bits: placed.slice(), key });
    return true;
  };

  let completedLeft = 0;
  for (const i of indexes) if (history[i]!.return !== undefined) completedLeft++;
  if (completedLeft === 0) return { kind: 'valid' };
  const stack: { pos: number; state: S }[] = [];
  let deepest: number[] = [];
  let stuck = -1;
  let state = model.init();
  let pos = next[head]!;
  while (pos !== -1) {
    if (budget.left <= 0) return { kind: 'unknown' };
    budget.left--;
    const k = opAt[pos]!;
    if (isCall(pos)) {
      const op = history[indexes[k]!]!;
      const known = op.return !== undefined;
      const after = model.step(state, op.input, known ? op.output : undefined, known);
      if (after !== undefined) {
        placed[k >> 5]! |= 1 << (k & 31);
        if (remember(keyOf(after))) {
          stack.push({ pos, state });
          state = after;
          if (known) completedLeft--;
          lift(pos);
          if (completedLeft === 0) return { kind: 'valid' };
          pos = next[head]!;
          continue;
        }
        placed[k >> 5]! &= ~(1 << (k & 31));
      }
      pos = next[pos]!;
      continue;
    }
    // A return whose operation has not been placed: nothing placed so far can stay as it is.
    if (stack.length > deepest.length || stuck === -1) {
      deepest = stack.map((s) => indexes[opAt[s.pos]!]!);
      stuck = indexes[k]!;
    }
    const top = stack.pop();
    if (top === undefined) return { kind: 'invalid', linearized: deepest, stuck };
    state = top.state;
    const t = opAt[top.pos]!;
    placed[t >> 5]! &= ~(1 << (t & 31));
    if (history[indexes[t]!]!.return !== undefined) completedLeft++;
    unlift(top.pos);
    pos = next[top.pos]!;
  }
  // Only unknown outcomes are left unplaced: they never took effect.
  return { kind: 'valid' };
}

/** An operation on a register: read it, write it, or compare-and-set it. `key` names the register (each checked apart). */
export type RegisterInput<V = unknown> = { f: 'read'; key?: string } | { f: 'write'; value: V; key?: string } | { f: 'cas'; from: V; to: V; key?: string };

/**
 * The model of a register (or of a map of independent registers, by `key`): a read answers the
 * value (`initial` before any write, default null), a write answers nothing, a cas answers true
 * when the value was `from` (and sets `to`) and false otherwise. Values compare as JSON.
 */
export function registerModel<V = unknown>(options?: { initial?: V | null }): LinearModel<V | null, RegisterInput<V>, unknown> {
  const o = checkOptions<{ initial?: V | null }>('registerModel', options, ['initial']);
  const initial = o.initial === undefined ? null : o.initial;
  const same = (a: unknown, b: unknown): boolean => a === b || JSON.stringify(a) === JSON.stringify(b);
  return {
    init: () => initial,
    step(state, input, output, known) {
      switch (input.f) {
        case 'read':
          return !known || same(output, state) ? state : undefined;
        case 'write':
          return input.value;
        case 'cas':
          if (!known) return same(state, input.from) ? input.to : state;
          if (output === true) return same(state, input.from) ? input.to : undefined;
          if (output === false) return same(state, input.from) ? undefined : state;
          return undefined;
        default:
          throw new InvalidOptionError(`registerModel: an operation's input.f must be 'read', 'write' or 'cas', got ${JSON.stringify((input as { f?: unknown }).f)}`);
      }
    },
    partition: (input) => input.key ?? '',
    describe(input, output, known) {
      const k = input.key === undefined ? '' : `${input.key}.`;
      const out = known ? JSON.stringify(output) : 'unknown';
      if (input.f === 'read') return `${k}read() → ${out}`;
      if (input.f === 'write') return `${k}write(${JSON.stringify(input.value)})${known ? '' : ' → unknown'}`;
      return `${k}cas(${JSON.stringify(input.from)}, ${JSON.stringify(input.to)}) → ${out}`;
    },
  };
}
