import type { ToxicKind } from './toxic.js';

/**
 * Swallows the data; with `timeout` > 0 closes the connection after that many ms, with 0 holds
 * it open and silent — its end too — until the toxic is removed.
 */
export const timeout: ToxicKind = {
  attributes: { timeout: 0 },
  arm(a, link) {
    if (a.timeout! > 0) link.after(a.timeout!, () => link.close());
  },
  chunk: () => ({ stop: true }),
  holdsClose: () => true,
};
