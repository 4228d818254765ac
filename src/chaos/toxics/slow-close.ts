import type { ToxicKind } from './toxic.js';

/** Holds back the end of the stream by `delay` ms. */
export const slowClose: ToxicKind = {
  attributes: { delay: 0 },
  closeDelayMs: (a) => a.delay!,
};
