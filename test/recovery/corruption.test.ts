import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, FileCheckpointStore, jsonCodec } from '../../src/recovery/index.js';

const fileOf = (dir: string, stream: string, id: number): string => path.join(dir, stream, `${String(id).padStart(16, '0')}.ckpt`);

describe('a corrupt newest checkpoint file', () => {
  let dir: string;
  let store: FileCheckpointStore;
  let goodId: number;
  let badId: number;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-corrupt-'));
    store = new FileCheckpointStore({ dir });
    goodId = (await store.save('s', { state: 'good', items: [1, 2, 3] })).id;
    badId = (await store.save('s', { state: 'newer', items: [1, 2, 3, 4] })).id;
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const damages: [string, (b: Buffer) => Buffer, RegExp][] = [
    ['one flipped byte in the data', (b) => (b.writeUInt8(b.readUInt8(b.length - 3) ^ 0x01, b.length - 3), b), /checksum mismatch/],
    ['one flipped byte in the header', (b) => (b.writeUInt8(b.readUInt8(9) ^ 0x80, 9), b), /checksum mismatch/],
    ['a truncated file (torn write)', (b) => b.subarray(0, b.length - 7), /truncated/],
    ['a file cut inside its header', (b) => b.subarray(0, 10), /shorter than the 28-byte header/],
    ['a zero-length file', () => Buffer.alloc(0), /empty \(zero bytes\)/],
    ['a wrong magic', (b) => (b.write('JUNK', 0, 'latin1'), b), /wrong magic "JUNK"/],
    ['a future format version', (b) => ((b[4] = 9), b), /format version 9 is not supported .* upgrade steadfast/],
    ['trailing garbage', (b) => Buffer.concat([b, Buffer.from('xx')]), /truncated or padded/],
  ];

  for (const [what, damage, reason] of damages) {
    it(`with ${what}: latest() returns the previous valid one and reports why`, async () => {
      const file = fileOf(dir, 's', badId);
      await fs.writeFile(file, damage(await fs.readFile(file)));
      const reports: { id: number; reason: string }[] = [];
      store.on('corrupt', (e) => reports.push(e));
      const latest = await store.latest<{ state: string }>('s');
      expect(latest?.id).toBe(goodId);
      expect(latest?.data.state).toBe('good');
      expect(reports).toHaveLength(1);
      expect(reports[0]!.id).toBe(badId);
      expect(reports[0]!.reason).toMatch(reason);
      const listed = await store.list('s');
      expect(listed.map((c) => c.valid)).toEqual([true, false]);
    });
  }

  it('returns undefined (not garbage) when every checkpoint is corrupt', async () => {
    for (const id of [goodId, badId]) await fs.writeFile(fileOf(dir, 's', id), Buffer.from('not a checkpoint at all'));
    expect(await store.latest('s')).toBeUndefined();
  });

  it('gives the next save a higher id than the corrupt file, never reusing it', async () => {
    await fs.writeFile(fileOf(dir, 's', badId), Buffer.alloc(0));
    const next = await store.save('s', { state: 'after' });
    expect(next.id).toBe(badId + 1);
    expect((await store.latest<{ state: string }>('s'))?.data.state).toBe('after');
  });
});

describe('the frame format', () => {
  it('detects every single-bit flip anywhere in a frame', () => {
    const { frame } = encodeFrame(jsonCodec, 1_700_000_000_000, { m: 1 }, jsonCodec.encode({ hello: 'world', n: [1, 2, 3] }));
    for (let byte = 0; byte < frame.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = Buffer.from(frame);
        copy.writeUInt8(copy.readUInt8(byte) ^ (1 << bit), byte);
        expect('corrupt' in decodeFrame(copy), `flip of bit ${bit} in byte ${byte} went unnoticed`).toBe(true);
      }
    }
    expect('corrupt' in decodeFrame(frame)).toBe(false);
  });
});

describe('FileCheckpointStore on disk', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-file-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('leaves no temp file behind and names files by zero-padded id', async () => {
    const store = new FileCheckpointStore({ dir });
    await store.save('s', 1);
    await store.save('s', 2);
    expect((await fs.readdir(path.join(dir, 's'))).sort()).toEqual(['0000000000000001.ckpt', '0000000000000002.ckpt']);
  });

  it('continues the id sequence after a restart (a new store on the same folder)', async () => {
    const a = new FileCheckpointStore({ dir });
    await a.save('s', 'one');
    await a.save('s', 'two');
    const b = new FileCheckpointStore({ dir });
    expect((await b.save('s', 'three')).id).toBe(3);
    expect((await b.latest('s'))?.data).toBe('three');
  });

  it('lets two stores on one folder save at once without losing or overwriting a checkpoint', async () => {
    const a = new FileCheckpointStore({ dir });
    const b = new FileCheckpointStore({ dir });
    const saves = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).save('shared', { i })));
    const ids = saves.map((s) => s.id);
    expect(new Set(ids).size).toBe(40);
    const listed = await a.list('shared');
    expect(listed).toHaveLength(40);
    for (const s of saves) expect((await a.get<{ i: number }>('shared', s.id))?.data).toEqual({ i: saves.indexOf(s) });
  });

  it('ignores files that are not checkpoints and prunes stale temp files of crashed writers', async () => {
    const store = new FileCheckpointStore({ dir });
    await store.save('s', 1);
    await store.save('s', 2);
    const temp = path.join(dir, 's', '.tmp-999-dead.ckpt');
    await fs.writeFile(temp, 'partial');
    const old = new Date(Date.now() - 3600_000);
    await fs.utimes(temp, old, old);
    await fs.writeFile(path.join(dir, 's', 'README'), 'not a checkpoint');
    expect((await store.list('s')).map((c) => c.id)).toEqual([1, 2]);
    await store.prune('s', { keep: 1 });
    expect((await fs.readdir(path.join(dir, 's'))).sort()).toEqual(['0000000000000002.ckpt', 'README']);
  });

  it('rejects bad options, naming the option', () => {
    expect(() => new FileCheckpointStore(undefined as never)).toThrow(/options \{ dir \} are required/);
    expect(() => new FileCheckpointStore({ dir: '' })).toThrow('FileCheckpointStore: dir must be a non-empty string, got ""');
    expect(() => new FileCheckpointStore({ dir, fsync: 'yes' as never })).toThrow(/fsync must be a boolean/);
    expect(() => new FileCheckpointStore({ dir, maxBytes: 1 })).toThrow(/maxBytes must be an integer ≥ 64/);
    expect(() => new FileCheckpointStore({ dir, dri: 'x' } as never)).toThrow(/unknown option 'dri'/);
  });
});
