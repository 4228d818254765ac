import { InvalidArgumentError } from 'commander';

/** A commander parser for a number in range; the message names the accepted range. */
export function numberIn(min: number, max: number, { integer = false } = {}) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
      throw new InvalidArgumentError(`must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got '${value}'`);
    }
    return n;
  };
}
