import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { murmur3, xxhash32 } from '../../src/hashing/index.js';

describe('murmur3 (x86, 32-bit)', () => {
  // Published vectors (SMHasher / the reference implementation).
  it.each([
    ['', 0, 0x00000000],
    ['', 1, 0x514e28b7],
    ['', 0xffffffff, 0x81f16f39],
    ['test', 0, 0xba6bd213],
    ['Hello, world!', 0, 0xc0363e43],
    ['Hello, world!', 1234, 0xfaf6cdb3],
    ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
    ['a', 0, 0x3c2569b2],
    ['abc', 0, 0xb3dd93fa],
  ])('murmur3(%j, %d) = %i', (key, seed, expected) => {
    expect(murmur3(key, seed)).toBe(expected);
  });

  it('hashes a string as its UTF-8 bytes, for any string (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (s, seed) => {
        expect(murmur3(s, seed)).toBe(murmur3(new TextEncoder().encode(s), seed));
      }),
      { numRuns: 2000 },
    );
  });

  it('encodes a lone surrogate as U+FFFD, as TextEncoder does', () => {
    expect(murmur3('a\ud800b')).toBe(murmur3(new TextEncoder().encode('a\ud800b')));
    expect(murmur3('\udc00')).toBe(murmur3(new Uint8Array([0xef, 0xbf, 0xbd])));
  });

  it('returns an unsigned 32-bit integer', () => {
    for (const k of ['x', 'yy', 'zzz', 'wwww', 'ééé']) {
      const h = murmur3(k);
      expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
    }
  });
});

describe('xxhash32', () => {
  it.each([
    ['', 0, 0x02cc5d05],
    ['a', 0, 0x550d7456],
    ['abc', 0, 0x32d153ff],
    ['Nobody inspects the spammish repetition', 0, 0xe2293b2f],
    ['', 1, 0x0b2cb792],
  ])('xxhash32(%j, %d) = %i', (key, seed, expected) => {
    expect(xxhash32(key, seed)).toBe(expected);
  });

  it('hashes a string as its UTF-8 bytes (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(xxhash32(s)).toBe(xxhash32(new TextEncoder().encode(s)));
      }),
      { numRuns: 500 },
    );
  });
});
