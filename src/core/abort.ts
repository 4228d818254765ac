import type { Clock } from './clock.js';
import { AbortedError } from './errors.js';

/** A signal that never aborts; shared, so a call without a signal allocates nothing. */
export const neverAbortedSignal: AbortSignal = new AbortController().signal;

/** The error to reject with when `signal` has aborted: its reason, or an AbortedError. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason === undefined ? new AbortedError() : signal.reason;
}

/**
 * Waits `ms` on `clock`; rejects at once with the abort reason when `signal` aborts,
 * and clears its timer so nothing is left behind.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  if (signal === neverAbortedSignal) signal = undefined; // shared: never listen on it
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
