import type { ToxicKind } from './toxic.js';

/** Resets both sides (an RST, as Toxiproxy's reset_peer) `timeout` ms after the connection is seen. */
export const resetPeer: ToxicKind = {
  attributes: { timeout: 0 },
  arm(a, link) {
    link.after(a.timeout!, () => link.reset());
  },
};
