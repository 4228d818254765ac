/**
 * 32-bit hashes of strings (as UTF-8) and bytes, in plain TypeScript.
 *
 * A string is hashed as its UTF-8 encoding without building a buffer: code units are
 * turned into UTF-8 bytes on the fly and fed four at a time, so `murmur3('é')` equals
 * murmur3 of the bytes C3 A9, as every other implementation computes it. Lone surrogates
 * become U+FFFD, as TextEncoder does. Hashing inline in JavaScript, not through node:crypto
 * (md5 there pays a native call and a Buffer per key): bench/hashing.mjs measures the result.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** Feeds UTF-8 bytes of `key` to `block(word)` four at a time; returns the tail (≤ 3 bytes) and total length. */
function utf8Words(key: string, block: (k: number) => void): { tail: number; tailLen: number; length: number } {
  let word = 0;
  let filled = 0;
  let length = 0;
  const push = (byte: number): void => {
    word |= byte << (filled * 8);
    filled++;
    length++;
    if (filled === 4) {
      block(word);
      word = 0;
      filled = 0;
    }
  };
  for (let i = 0; i < key.length; i++) {
    let c = key.charCodeAt(i);
    if (c < 0x80) push(c);
    else if (c < 0x800) {
      push(0xc0 | (c >> 6));
      push(0x80 | (c & 0x3f));
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < key.length ? key.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          push(0xf0 | (c >> 18));
          push(0x80 | ((c >> 12) & 0x3f));
          push(0x80 | ((c >> 6) & 0x3f));
          push(0x80 | (c & 0x3f));
          continue;
        }
        c = 0xfffd; // a lone surrogate, as TextEncoder encodes it
      }
      push(0xe0 | (c >> 12));
      push(0x80 | ((c >> 6) & 0x3f));
      push(0x80 | (c & 0x3f));
    }
  }
  return { tail: word, tailLen: filled, length };
}

function isAscii(key: string): boolean {
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) >= 0x80) return false;
  return true;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86 32-bit (Austin Appleby) of a string's UTF-8 bytes, or of bytes. */
export function murmur3(key: string | Uint8Array, seed = 0): number {
  let h = seed >>> 0;
  const mix = (k: number): void => {
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  };
  let tail: number;
  let tailLen: number;
  let length: number;
  if (typeof key === 'string') {
    const h = murmur3Ascii(key, seed);
    if (h >= 0) return h;
    // Not ASCII: hash its UTF-8 bytes, generated on the fly.
    ({ tail, tailLen, length } = utf8Words(key, mix));
  } else {
    length = key.length;
    const blocks = length & ~3;
    for (let i = 0; i < blocks; i += 4) mix(key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24));
    tailLen = length & 3;
    tail = 0;
    for (let j = 0; j < tailLen; j++) tail |= key[blocks + j]! << (j * 8);
  }
  if (tailLen > 0) {
    let k = Math.imul(tail, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= length;
  return fmix32(h);
}

/**
 * murmur3 of an ASCII string (one byte per code unit), fully inlined; returns −1 as soon as
 * it meets a non-ASCII code unit, so ASCII keys are read once, not checked and then hashed.
 */
function murmur3Ascii(key: string, seed: number): number {
  let h = seed >>> 0;
  const length = key.length;
  const blocks = length & ~3;
  let k: number;
  for (let i = 0; i < blocks; i += 4) {
    const c0 = key.charCodeAt(i);
    const c1 = key.charCodeAt(i + 1);
    const c2 = key.charCodeAt(i + 2);
    const c3 = key.charCodeAt(i + 3);
    if ((c0 | c1 | c2 | c3) >= 0x80) return -1;
    k = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = length & 3;
  if (rest > 0) {
    const c0 = key.charCodeAt(blocks);
    const c1 = rest > 1 ? key.charCodeAt(blocks + 1) : 0;
    const c2 = rest > 2 ? key.charCodeAt(blocks + 2) : 0;
    if ((c0 | c1 | c2) >= 0x80) return -1;
    k = c0 | (c1 << 8) | (c2 << 16);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));

/** xxHash32 (Yann Collet) of a string's UTF-8 bytes, or of bytes. */
export function xxhash32(key: string | Uint8Array, seed = 0): number {
  const bytes = typeof key === 'string' ? (isAscii(key) ? asciiBytes(key) : new TextEncoder().encode(key)) : key;
  const len = bytes.length;
  const u32 = (i: number): number => (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) >>> 0;
  let i = 0;
  let h: number;
  if (len >= 16) {
    let v1 = (seed + P1 + P2) | 0;
    let v2 = (seed + P2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - P1) | 0;
    const round = (v: number, input: number): number => Math.imul(rotl((v + Math.imul(input, P2)) | 0, 13), P1);
    for (; i <= len - 16; i += 16) {
      v1 = round(v1, u32(i));
      v2 = round(v2, u32(i + 4));
      v3 = round(v3, u32(i + 8));
      v4 = round(v4, u32(i + 12));
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = (seed + P5) | 0;
  }
  h = (h + len) | 0;
  for (; i <= len - 4; i += 4) h = Math.imul(rotl((h + Math.imul(u32(i), P3)) | 0, 17), P4);
  for (; i < len; i++) h = Math.imul(rotl((h + Math.imul(bytes[i]!, P5)) | 0, 11), P1);
  h ^= h >>> 15;
  h = Math.imul(h, P2);
  h ^= h >>> 13;
  h = Math.imul(h, P3);
  h ^= h >>> 16;
  return h >>> 0;
}

function asciiBytes(key: string): Uint8Array {
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) out[i] = key.charCodeAt(i);
  return out;
}

export type HashFunction = (key: string, seed?: number) => number;
