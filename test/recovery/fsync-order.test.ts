import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleFixture } from '../support/bundle.js';

const hasStrace = spawnSync('strace', ['-V']).status === 0;
if (!hasStrace && process.env.CI) throw new Error('strace is missing: install the Debian package strace (.ci/run does)');

/**
 * SIGKILL keeps the page cache, so a crash test cannot tell an fsync from none. This one
 * watches the system calls of a real save: the data must be fsynced before the file gets its
 * name, and the folder after, all before the save resolves.
 */
describe.runIf(hasStrace)('FileCheckpointStore.save, watched with strace', () => {
  let fixture: { file: string; cleanup: () => void };
  let dir: string;
  beforeAll(async () => {
    fixture = await bundleFixture(path.join(import.meta.dirname, 'fixtures/fsync-writer.ts'));
    dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-strace-'));
  });
  afterAll(() => {
    fixture.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fsyncs the temp file before linking it and the folder after, before it resolves', () => {
    const trace = path.join(dir, 'trace');
    const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=openat,fsync,fdatasync,link,linkat,write', '-o', trace, process.execPath, fixture.file, path.join(dir, 'data')], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    const lines = readFileSync(trace, 'utf8').split('\n');
    const from = lines.findIndex((l) => l.includes('write(1, "start\\n"'));
    const to = lines.findIndex((l) => l.includes('write(1, "acked'));
    expect(from).toBeGreaterThanOrEqual(0);
    expect(to).toBeGreaterThan(from);
    const calls = lines.slice(from, to);
    const at = (re: RegExp, after = 0): number => {
      const i = calls.findIndex((l, k) => k >= after && re.test(l));
      return i;
    };
    const openTemp = at(/openat\(.*\/\.tmp-\d+-[0-9a-f]+\.ckpt", O_WRONLY\|O_CREAT\|O_EXCL.*= (\d+)$/);
    expect(openTemp).toBeGreaterThanOrEqual(0);
    const tempFd = /= (\d+)$/.exec(calls[openTemp]!)![1];
    const linked = at(/^\d+\s+link(at)?\(.*\.tmp-.*0000000000000002\.ckpt"/);
    expect(linked).toBeGreaterThan(openTemp);
    const dataSync = at(new RegExp(`f(data)?sync\\(${tempFd}\\)\\s+= 0`), openTemp);
    expect(dataSync).toBeGreaterThan(openTemp);
    expect(dataSync).toBeLessThan(linked);
    const openDir = at(new RegExp(`openat\\(.*${path.join(dir, 'data', 's').replace(/[/.]/g, '\\$&')}", O_RDONLY\\|O_CLOEXEC\\) = (\\d+)$`), linked);
    expect(openDir).toBeGreaterThan(linked);
    const dirFd = /= (\d+)$/.exec(calls[openDir]!)![1];
    expect(at(new RegExp(`fsync\\(${dirFd}\\)\\s+= 0`), openDir)).toBeGreaterThan(openDir);
  });
});
