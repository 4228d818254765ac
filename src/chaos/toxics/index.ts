import { bandwidth } from './bandwidth.js';
import { latency } from './latency.js';
import { limitData } from './limit-data.js';
import { resetPeer } from './reset-peer.js';
import { slicer } from './slicer.js';
import { slowClose } from './slow-close.js';
import { timeout } from './timeout.js';
import type { ToxicKind, ToxicType } from './toxic.js';

export type { ChunkVerdict, Toxic, ToxicKind, ToxicLink, ToxicStream, ToxicType } from './toxic.js';

/** Every toxic FaultProxy knows, by Toxiproxy's type name: a new toxic is one file and one line here. */
export const TOXICS = Object.freeze({
  latency,
  bandwidth,
  timeout,
  reset_peer: resetPeer,
  slow_close: slowClose,
  slicer,
  limit_data: limitData,
} satisfies Record<ToxicType, ToxicKind>);
