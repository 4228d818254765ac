import type { ToxicKind } from './toxic.js';

/** Passes `bytes` bytes of the stream, then closes the connection. */
export const limitData: ToxicKind = {
  attributes: { bytes: 0 },
  chunk(pieces, a, link, toxic, write) {
    const state = link.stateOf(toxic, () => ({ sent: 0 }));
    const room = a.bytes! - state.sent;
    const total = pieces.reduce((s, p) => s + p.length, 0);
    if (total < room) {
      state.sent += total;
      return { pieces };
    }
    let left = Math.max(0, room);
    for (const p of pieces) {
      if (left <= 0) break;
      write(p.subarray(0, left));
      left -= Math.min(left, p.length);
    }
    link.close();
    return { stop: true };
  },
};
