import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** Runs the harness round-trip suite in a child vitest with redis-server "missing". */
function runWithoutRedis(ci: boolean) {
  const env: NodeJS.ProcessEnv = { ...process.env, STEADFAST_REDIS_SERVER: '', FORCE_COLOR: '0', NO_COLOR: '1' };
  delete env.CI;
  delete env.VITEST;
  delete env.VITEST_WORKER_ID;
  if (ci) env.CI = 'true';
  return spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', 'test/support/servers.test.ts', '-t', 'redis'], {
    encoding: 'utf8',
    env,
    timeout: 60_000,
  });
}

describe('test harness when a server binary is missing', () => {
  it('skips the suite with a message naming the Debian package', () => {
    const r = runWithoutRedis(false);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/redis-server not found: install the Debian package 'redis-server'/);
    expect(r.status).toBe(0);
  });

  it('fails under CI=true instead of skipping', () => {
    const r = runWithoutRedis(true);
    const out = r.stdout + r.stderr;
    expect(out).toMatch(/under CI=true a missing server is a failure, not a skip/);
    expect(r.status).not.toBe(0);
  });
});
