import type { ToxicKind } from './toxic.js';

/** Holds the data to `rate` KB/s (0: no limit). */
export const bandwidth: ToxicKind = {
  attributes: { rate: 0 },
  async paced(piece, _pieces, a, link) {
    if (a.rate! > 0) await link.sleep((piece.length / (a.rate! * 1024)) * 1000);
  },
};
