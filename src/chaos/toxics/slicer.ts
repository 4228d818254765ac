import type { ToxicKind } from './toxic.js';

/** Cuts the data into pieces of `average_size` ± `size_variation` bytes, `delay` µs apart. */
export const slicer: ToxicKind = {
  attributes: { average_size: 0, size_variation: 0, delay: 0 },
  chunk(pieces, a, link) {
    const out: Buffer[] = [];
    for (const p of pieces) {
      for (let at = 0; at < p.length; ) {
        const variation = a.size_variation! > 0 ? Math.round((link.random() * 2 - 1) * a.size_variation!) : 0;
        const size = Math.max(1, (a.average_size! || 1) + variation);
        out.push(p.subarray(at, at + size));
        at += size;
      }
    }
    return { pieces: out };
  },
  async paced(_piece, pieces, a, link) {
    if (a.delay! > 0 && pieces > 1) await link.sleep(a.delay! / 1000);
  },
};
