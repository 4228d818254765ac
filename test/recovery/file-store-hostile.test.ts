import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileCheckpointStore } from '../../src/recovery/index.js';

const isRoot = process.getuid?.() === 0;

describe('FileCheckpointStore among files that are not its own', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-hostile-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('ignores a stray file whose number is not an exact id, and keeps saving with small ids', async () => {
    const store = new FileCheckpointStore({ dir });
    const ignored: { name: string; reason: string }[] = [];
    store.on('ignored', (e) => ignored.push(e));
    await store.save('s', 'one');
    await fs.writeFile(path.join(dir, 's', '9999999999999999.ckpt'), 'not ours');
    // Before: read as id 1e16, where id + 1 === id, so every later save failed with EEXIST.
    const info = await store.save('s', 'two');
    expect(info.id).toBe(2);
    expect((await store.latest('s'))?.data).toBe('two');
    expect(ignored[0]).toMatchObject({ name: '9999999999999999.ckpt', reason: expect.stringMatching(/not an id this store writes/) });
    expect(existsSync(path.join(dir, 's', '9999999999999999.ckpt'))).toBe(true); // reported, never deleted
    await store.close();
  });

  it('skips a directory and a FIFO named like checkpoints instead of throwing EISDIR or hanging', async () => {
    const store = new FileCheckpointStore({ dir });
    await store.save('s', 'good');
    await fs.mkdir(path.join(dir, 's', '0000000000000007.ckpt'));
    execFileSync('mkfifo', [path.join(dir, 's', '0000000000000008.ckpt')]);
    const ignored: string[] = [];
    store.on('ignored', (e) => ignored.push(e.name));
    expect((await store.latest('s'))?.data).toBe('good');
    expect((await store.list('s')).map((c) => c.id)).toEqual([1]);
    expect(ignored.sort()).toEqual(expect.arrayContaining(['0000000000000007.ckpt', '0000000000000008.ckpt']));
    expect((await store.save('s', 'next')).id).toBe(2);
    await store.close();
  });

  it('never prunes a corrupt checkpoint: it is evidence', async () => {
    const store = new FileCheckpointStore({ dir });
    await store.save('s', 'a');
    const bad = await store.save('s', 'b');
    await fs.writeFile(path.join(dir, 's', `${String(bad.id).padStart(16, '0')}.ckpt`), 'garbage');
    for (const v of ['c', 'd', 'e']) await store.save('s', v);
    await store.prune('s', { keep: 1 });
    const listed = await store.list('s');
    expect(listed.filter((c) => !c.valid).map((c) => c.id)).toEqual([bad.id]);
    expect(listed.filter((c) => c.valid).map((c) => c.id)).toEqual([5]);
    await store.close();
  });

  it("removes a dead writer's temp file when it first uses the stream folder", async () => {
    const first = new FileCheckpointStore({ dir });
    await first.save('s', 1);
    await first.close();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // a pid that has exited
    const temp = path.join(dir, 's', `.tmp-${dead}-0123456789ab.ckpt`);
    await fs.writeFile(temp, 'partial'); // fresh: only its writer being gone makes it stale
    const store = new FileCheckpointStore({ dir });
    await store.save('s', 2);
    expect(existsSync(temp)).toBe(false);
    await store.close();
  });
});

// A real full disk: a 1 MiB tmpfs (mounting needs root; CI runs as root).
describe.runIf(isRoot)('FileCheckpointStore on a full disk', () => {
  let mnt: string;
  beforeEach(() => {
    mnt = mkdtempSync(path.join(os.tmpdir(), 'steadfast-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
  });
  afterEach(() => {
    spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });

  it('rejects the save with ENOSPC and leaves no partial temp file behind', async () => {
    const store = new FileCheckpointStore({ dir: mnt });
    await store.save('s', 'small');
    await expect(store.save('s', 'x'.repeat(2 * 1024 * 1024))).rejects.toMatchObject({ code: 'ENOSPC' });
    expect((await fs.readdir(path.join(mnt, 's'))).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    // The room is still there for a save that fits.
    expect((await store.save('s', 'after')).id).toBe(2);
    expect((await store.latest('s'))?.data).toBe('after');
    await store.close();
  });
});
