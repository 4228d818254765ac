import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function steadfast(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('steadfast CLI', () => {
  it('prints help listing its commands and exits 0', () => {
    const r = steadfast('--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Usage: steadfast/);
    expect(r.out).toMatch(/demo/);
    expect(r.out).toMatch(/bench/);
  });

  it('has --help on every command', () => {
    const r = steadfast('demo', '--help');
    expect(r.code).toBe(0);
    for (const flag of ['--duration', '--rate', '--seed', '--json']) expect(r.out).toContain(flag);
  });

  it('exits 2 on a bad flag value, naming the flag and the accepted range', () => {
    const r = steadfast('demo', '--duration', 'soon');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--duration <seconds>' argument 'soon' is invalid\. must be a number from 2 to 3600/);
  });

  it('exits 2 on an unknown command or option', () => {
    expect(steadfast('explode').code).toBe(2);
    const r = steadfast('demo', '--durration', '5');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown option '--durration'/);
  });
});
