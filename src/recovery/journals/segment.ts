// FileJournal's segment files: the byte format (header, framed records, verification) and the
// positioned writes and syncs they are written with. FileJournal (file.ts) is the journal on top.
import fs, { promises as fsp } from 'node:fs';
import { crc32Range } from '../internal.js';

/*
 * Layout: <dir>/journal-<first seq, 16 digits>.log, each segment
 *
 *   header (16 bytes): magic "SFJL", format version (1), 3 reserved, first seq (u64 LE)
 *   records:           CRC-32 of everything after it in the record (u32 LE), payload length P
 *                      (u32 LE), seq (u64 LE), codec id (u8), 3 reserved, payload
 *
 * Records are consecutive: a segment's first record is its first seq, each next one is one more,
 * and the next segment starts where this one ended.
 */
export const MAGIC = Buffer.from('SFJL');
export const VERSION = 1;
export const SEGMENT_HEADER = 16;
export const RECORD_HEADER = 20;
export const NAME_RE = /^journal-(\d{16})\.log$/;
export const segmentName = (first: number): string => `journal-${String(first).padStart(16, '0')}.log`;

export function writeU64(buf: Buffer, n: number, at: number): void {
  buf.writeUInt32LE(n % 2 ** 32, at);
  buf.writeUInt32LE(Math.floor(n / 2 ** 32), at + 4);
}
export const readU64 = (buf: Buffer, at: number): number => buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * 2 ** 32;

export function encodeRecord(seq: number, codec: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(RECORD_HEADER + payload.length);
  frame.writeUInt32LE(payload.length, 4);
  writeU64(frame, seq, 8);
  frame.writeUInt32LE(codec, 16); // codec id, then 3 reserved zero bytes
  frame.set(payload, RECORD_HEADER);
  frame.writeUInt32LE(crc32Range(frame, 4, frame.length), 0);
  return frame;
}

/**
 * Walks a segment's records; stops at the end or at the first record that fails verification.
 * `checksums: false` checks only the structure (lengths and consecutive seqs) — how older
 * segments are opened; their checksums are verified when they are read.
 */
export function scan(buf: Buffer, first: number, maxRecordBytes: number, checksums = true): { end: number; count: number; problem: string | undefined } {
  let at = SEGMENT_HEADER;
  let seq = first;
  let count = 0;
  while (at < buf.length) {
    const problem = recordProblem(buf, at, seq, maxRecordBytes, checksums);
    if (problem !== undefined) return { end: at, count, problem };
    at += RECORD_HEADER + buf.readUInt32LE(at + 4);
    seq++;
    count++;
  }
  return { end: at, count, problem: undefined };
}

export function recordProblem(buf: Buffer, at: number, seq: number, maxRecordBytes: number, checksums = true): string | undefined {
  if (buf.length - at < RECORD_HEADER) return `a record header cut short (${buf.length - at} of ${RECORD_HEADER} bytes)`;
  const len = buf.readUInt32LE(at + 4);
  if (len > maxRecordBytes) return `a record length of ${len} bytes, over maxRecordBytes`;
  if (buf.length - at - RECORD_HEADER < len) return `a record cut short (${buf.length - at - RECORD_HEADER} of ${len} bytes)`;
  if (checksums && crc32Range(buf, at + 4, at + RECORD_HEADER + len) !== buf.readUInt32LE(at)) return 'a checksum mismatch';
  const got = readU64(buf, at + 8);
  if (got !== seq) return `seq ${got} where ${seq} was due`;
  return undefined;
}

/** Whether a valid record starts right after the bad one at `at` (then the damage is in the middle, not a torn tail). */
export function validAfter(buf: Buffer, at: number, seq: number, maxRecordBytes: number): boolean {
  if (buf.length - at < RECORD_HEADER) return false;
  const len = buf.readUInt32LE(at + 4);
  const next = at + RECORD_HEADER + len;
  return len <= maxRecordBytes && next < buf.length && recordProblem(buf, next, seq + 1, maxRecordBytes) === undefined;
}

export function segmentHeader(first: number): Buffer {
  const h = Buffer.alloc(SEGMENT_HEADER);
  MAGIC.copy(h, 0);
  h[4] = VERSION;
  writeU64(h, first, 8);
  return h;
}

export const writev = (fd: number, buffers: Buffer[], position: number): Promise<number> =>
  new Promise((resolve, reject) => fs.writev(fd, buffers, position, (err, n) => (err ? reject(err) : resolve(n))));
export const fdatasync = (fd: number): Promise<void> => new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));

export function dropBytes(buffers: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}

export async function writeFileSynced(file: string, data: Buffer): Promise<void> {
  const h = await fsp.open(file, 'w');
  try {
    await h.writeFile(data);
    await h.datasync();
  } finally {
    await h.close();
  }
}

export async function truncateSynced(file: string, length: number): Promise<void> {
  const h = await fsp.open(file, 'r+');
  try {
    await h.truncate(length);
    await h.datasync();
  } finally {
    await h.close();
  }
}
