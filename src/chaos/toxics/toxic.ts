export type ToxicType = 'latency' | 'bandwidth' | 'timeout' | 'reset_peer' | 'slow_close' | 'slicer' | 'limit_data';
export type ToxicStream = 'upstream' | 'downstream';

/** A fault on one direction of a proxy, with Toxiproxy's names and attributes. */
export interface Toxic {
  name: string;
  type: ToxicType;
  /** 'downstream' (server → client, the default) or 'upstream' (client → server). */
  stream: ToxicStream;
  /** Probability (0–1) that a connection is affected. Default 1. */
  toxicity: number;
  /**
   * latency: { latency ms, jitter ms } · bandwidth: { rate KB/s } · timeout: { timeout ms, 0 = hold
   * forever } · reset_peer: { timeout ms } · slow_close: { delay ms } · slicer: { average_size,
   * size_variation bytes, delay µs } · limit_data: { bytes }
   */
  attributes: Record<string, number>;
}

/** What a toxic may do to the connection it acts on (one client socket and its upstream). */
export interface ToxicLink {
  random(): number;
  /** A delay on the proxy's clock. */
  sleep(ms: number): Promise<void>;
  /** Runs `fn` after `ms` on the proxy's clock unless the connection ends first. */
  after(ms: number, fn: () => void): void;
  /** Ends both sides with a FIN. */
  close(): void;
  /** Ends both sides with an RST. */
  reset(): void;
  /** Per-connection state of one toxic, made by `init` on first use. */
  stateOf<S>(toxic: Toxic, init: () => S): S;
}

/** What a toxic does to one chunk: the pieces to pass on, or that the chunk goes no further. */
export type ChunkVerdict = { pieces: Buffer[] } | { stop: true };

/**
 * One kind of toxic, Toxiproxy's names and attributes: a new toxic is one file with one of
 * these, listed in toxics/index.ts. Every hook is optional.
 */
export interface ToxicKind {
  /** Its attributes with their defaults (each a time in ms, a size in bytes or a rate in KB/s). */
  readonly attributes: Readonly<Record<string, number>>;
  /** When the toxic first applies to a connection (connection-wide toxics start here). */
  arm?(a: Record<string, number>, link: ToxicLink): void;
  /** One chunk going its stream, as pieces (an earlier toxic may have cut it). */
  chunk?(pieces: Buffer[], a: Record<string, number>, link: ToxicLink, toxic: Toxic, write: (b: Buffer) => unknown): Promise<ChunkVerdict> | ChunkVerdict;
  /** After each piece is written: pace the next one. */
  paced?(piece: Buffer, pieces: number, a: Record<string, number>, link: ToxicLink): Promise<void> | void;
  /** How long to hold back the end of the stream. */
  closeDelayMs?(a: Record<string, number>): number;
  /** Whether, while active, it swallows the stream's end too (the connection stays open and silent). */
  holdsClose?(a: Record<string, number>): boolean;
}
