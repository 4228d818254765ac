import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nearestRank } from '../../src/core/rank.js';
import { sourceFiles } from '../support/source.js';

describe('nearestRank: the one percentile formula', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
  const thousand = Array.from({ length: 1000 }, (_, i) => i + 1);
  const rows: [number[], number, number][] = [
    [[], 99, 0],
    [[7], 0, 7],
    [[7], 100, 7],
    [hundred, 50, 50],
    [hundred, 99, 99],
    [hundred, 100, 100],
    [hundred, 0, 1],
    [thousand, 99.9, 999], // 0.999 × 1000 is 999.0000000000001 in binary: still rank 999
    [thousand, 99, 990],
    [[1, 2, 3], 50, 2],
  ];
  for (const [values, p, want] of rows) it(`p${p} of ${values.length} values is ${want}`, () => expect(nearestRank(values, p)).toBe(want));

  it('is the only percentile formula in src/', () => {
    const offenders = sourceFiles()
      .filter(({ file, text }) => file !== path.join('core', 'rank.ts') && /\* 0\.99\b|0\.99 \*|Math\.ceil\(\(p \/ 100\)/.test(text))
      .map(({ file }) => file);
    expect(offenders).toEqual([]);
  });
});
