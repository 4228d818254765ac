import { InvalidOptionError, OptionRangeError } from './errors.js';
/**
 * Option validation. Every component validates its options in the constructor and
 * throws a RangeError or TypeError that names the component, the option, the
 * accepted range and the value it got — e.g.
 * `RangeError: retry: maxAttempts must be an integer ≥ 1, got 0`.
 */

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

export interface NumberRange {
  min?: number;
  max?: number;
  /** min is exclusive (value must be > min). */
  minExclusive?: boolean;
}

function rangeText({ min, max, minExclusive }: NumberRange): string {
  const parts: string[] = [];
  if (min !== undefined) parts.push(`${minExclusive ? '>' : '≥'} ${min}`);
  if (max !== undefined) parts.push(`≤ ${max}`);
  return parts.join(' and ');
}

function checkRange(scope: string, name: string, value: number, kind: string, range: NumberRange): void {
  const { min, max, minExclusive } = range;
  const low = min !== undefined && (minExclusive ? !(value > min) : !(value >= min));
  const high = max !== undefined && !(value <= max);
  if (low || high) {
    throw new OptionRangeError(`${scope}: ${name} must be ${kind} ${rangeText(range)}, got ${show(value)}`);
  }
}

/** A finite number within range. */
export function checkNumber(scope: string, name: string, value: unknown, range: NumberRange = {}): number {
  const text = rangeText(range);
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new InvalidOptionError(`${scope}: ${name} must be a number${text ? ' ' + text : ''}, got ${show(value)}`);
  }
  if (!Number.isFinite(value)) {
    throw new OptionRangeError(`${scope}: ${name} must be a finite number${text ? ' ' + text : ''}, got ${show(value)}`);
  }
  checkRange(scope, name, value, 'a number', range);
  return value;
}

/** An integer within range. */
export function checkInteger(scope: string, name: string, value: unknown, range: NumberRange = {}): number {
  const text = rangeText(range);
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new InvalidOptionError(`${scope}: ${name} must be an integer${text ? ' ' + text : ''}, got ${show(value)}`);
  }
  if (!Number.isSafeInteger(value)) {
    throw new OptionRangeError(`${scope}: ${name} must be an integer${text ? ' ' + text : ''}, got ${show(value)}`);
  }
  checkRange(scope, name, value, 'an integer', range);
  return value;
}

export function checkFunction<F>(scope: string, name: string, value: unknown): F {
  if (typeof value !== 'function') {
    throw new InvalidOptionError(`${scope}: ${name} must be a function, got ${show(value)}`);
  }
  return value as F;
}

export function checkOneOf<T extends string>(scope: string, name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new OptionRangeError(`${scope}: ${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${show(value)}`);
  }
  return value as T;
}

export function checkBoolean(scope: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new InvalidOptionError(`${scope}: ${name} must be a boolean, got ${show(value)}`);
  return value;
}

export function checkString(scope: string, name: string, value: unknown, { nonEmpty = true } = {}): string {
  if (typeof value !== 'string' || (nonEmpty && value.length === 0)) {
    throw new InvalidOptionError(`${scope}: ${name} must be a ${nonEmpty ? 'non-empty ' : ''}string, got ${show(value)}`);
  }
  return value;
}

/** An options object (or undefined, read as {}); rejects options the component does not know. */
/** An optional list of non-empty strings (host names, origins); [] when absent. */
export function checkStringList(scope: string, name: string, value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((x) => typeof x !== 'string' || x === '')) throw new InvalidOptionError(`${scope}: ${name} must be an array of non-empty strings, got ${JSON.stringify(value)}`);
  return [...(value as string[])];
}

export function checkOptions<T extends object>(scope: string, value: unknown, known: readonly string[]): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError(`${scope}: options must be an object, got ${show(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InvalidOptionError(`${scope}: unknown option '${key}' (known: ${known.join(', ')})`);
    }
  }
  return value as Partial<T>;
}

/** A Clock-shaped object. */
export function checkClock(scope: string, value: unknown): void {
  const c = value as { now?: unknown; setTimeout?: unknown; clearTimeout?: unknown } | null;
  if (c === null || typeof c !== 'object' || typeof c.now !== 'function' || typeof c.setTimeout !== 'function' || typeof c.clearTimeout !== 'function') {
    throw new InvalidOptionError(`${scope}: clock must implement now(), setTimeout() and clearTimeout(), got ${show(value)}`);
  }
}
