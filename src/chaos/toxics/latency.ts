import type { ToxicKind } from './toxic.js';

/** Delays every chunk by `latency` ± `jitter` ms. */
export const latency: ToxicKind = {
  attributes: { latency: 0, jitter: 0 },
  async chunk(pieces, a, link) {
    const jitter = a.jitter! > 0 ? (link.random() * 2 - 1) * a.jitter! : 0;
    const delay = Math.max(0, a.latency! + jitter);
    if (delay > 0) await link.sleep(delay);
    return { pieces };
  },
};
