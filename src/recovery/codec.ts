import v8 from 'node:v8';
import { crc32 } from './internal.js';
import { InvalidOptionError } from '../core/errors.js';


/**
 * How checkpoint data becomes bytes. JSON by default; `v8Codec` keeps Maps, Sets, Dates,
 * typed arrays, BigInts and cycles (node:v8 structured serialization).
 */
export interface Codec {
  /** Stored in every frame; 1–99 are steadfast's, 100–255 are free for yours. */
  readonly id: number;
  readonly name: string;
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

export const jsonCodec: Codec = {
  id: 1,
  name: 'json',
  encode: (value) => {
    const text = JSON.stringify(value);
    if (text === undefined) throw new InvalidOptionError(`jsonCodec: cannot encode ${typeof value} (use v8Codec, or checkpoint a JSON value)`);
    return Buffer.from(text, 'utf8');
  },
  decode: (bytes) => JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')),
};

export const v8Codec: Codec = {
  id: 2,
  name: 'v8',
  encode: (value) => v8.serialize(value),
  decode: (bytes) => v8.deserialize(bytes),
};

export const BUILTIN_CODECS: readonly Codec[] = [jsonCodec, v8Codec];

/*
 * The frame of one checkpoint, little-endian (format version 1):
 *
 *   offset size
 *        0    4  magic "SFCK"
 *        4    1  format version (1)
 *        5    1  codec id
 *        6    2  reserved (0)
 *        8    8  createdAt, epoch ms (float64)
 *       16    4  meta length M (JSON, UTF-8)
 *       20    4  payload length P
 *       24    4  CRC-32 of bytes 0..24, the meta and the payload
 *       28    M  meta
 *     28+M    P  payload
 *
 * The id and stream are not in the frame: they are its name (file name, Redis field), so a
 * store can allocate the id atomically where the data is written. A torn write, a flipped
 * bit, a truncated or zero-length file, a wrong magic or a future version each fail
 * `decodeFrame` with a reason; nothing unverified is ever decoded.
 */
export const FRAME_MAGIC = Buffer.from('SFCK', 'latin1');
export const FRAME_VERSION = 1;
export const HEADER_BYTES = 28;

export interface FrameFields {
  codecId: number;
  createdAt: number;
  meta: Record<string, unknown> | undefined;
  payload: Uint8Array;
  checksum: string;
}

export function encodeFrame(codec: Codec, createdAt: number, meta: Record<string, unknown> | undefined, payload: Uint8Array): { frame: Buffer; checksum: string } {
  const metaBytes = meta === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(meta), 'utf8');
  const frame = Buffer.allocUnsafe(HEADER_BYTES + metaBytes.length + payload.byteLength);
  FRAME_MAGIC.copy(frame, 0);
  frame.writeUInt8(FRAME_VERSION, 4);
  frame.writeUInt8(codec.id, 5);
  frame.writeUInt16LE(0, 6);
  frame.writeDoubleLE(createdAt, 8);
  frame.writeUInt32LE(metaBytes.length, 16);
  frame.writeUInt32LE(payload.byteLength, 20);
  metaBytes.copy(frame, HEADER_BYTES);
  frame.set(payload, HEADER_BYTES + metaBytes.length);
  let crc = crc32(frame.subarray(0, 24));
  crc = crc32(frame.subarray(HEADER_BYTES), crc);
  frame.writeUInt32LE(crc, 24);
  return { frame, checksum: formatChecksum(crc) };
}

export function formatChecksum(crc: number): string {
  return `crc32:${crc.toString(16).padStart(8, '0')}`;
}

/** Verifies a frame; returns its fields, or a reason it cannot be trusted. */
export function decodeFrame(bytes: Uint8Array): FrameFields | { corrupt: string } {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length === 0) return { corrupt: 'empty (zero bytes): the write never reached the disk' };
  if (buf.length < HEADER_BYTES) return { corrupt: `truncated: ${buf.length} bytes, shorter than the ${HEADER_BYTES}-byte header` };
  if (!buf.subarray(0, 4).equals(FRAME_MAGIC)) return { corrupt: `wrong magic ${JSON.stringify(buf.subarray(0, 4).toString('latin1'))}: not a steadfast checkpoint` };
  const version = buf.readUInt8(4);
  if (version !== FRAME_VERSION) {
    return { corrupt: `format version ${version} is not supported by this steadfast (reads version ${FRAME_VERSION}); upgrade steadfast to read it` };
  }
  const metaLength = buf.readUInt32LE(16);
  const payloadLength = buf.readUInt32LE(20);
  const expected = HEADER_BYTES + metaLength + payloadLength;
  if (buf.length !== expected) return { corrupt: `truncated or padded: ${buf.length} bytes where the header says ${expected}` };
  let crc = crc32(buf.subarray(0, 24));
  crc = crc32(buf.subarray(HEADER_BYTES), crc);
  const stored = buf.readUInt32LE(24);
  if (crc !== stored) return { corrupt: `checksum mismatch: stored ${formatChecksum(stored)}, computed ${formatChecksum(crc)}` };
  let meta: Record<string, unknown> | undefined;
  if (metaLength > 0) {
    try {
      meta = JSON.parse(buf.subarray(HEADER_BYTES, HEADER_BYTES + metaLength).toString('utf8')) as Record<string, unknown>;
    } catch {
      return { corrupt: 'meta is not valid JSON' };
    }
  }
  return {
    codecId: buf.readUInt8(5),
    createdAt: buf.readDoubleLE(8),
    meta,
    payload: buf.subarray(HEADER_BYTES + metaLength),
    checksum: formatChecksum(stored),
  };
}
