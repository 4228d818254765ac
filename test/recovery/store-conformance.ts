import { afterEach, expect, it } from 'vitest';
import {
  CheckpointCorruptError,
  CheckpointTooLargeError,
  v8Codec,
  type BaseStoreOptions,
  type CheckpointStore,
} from '../../src/recovery/index.js';
import { encodeFrame } from '../../src/recovery/codec.js';

export interface StoreUnderTest {
  store: CheckpointStore;
  /** Replaces the stored bytes of one checkpoint. */
  tamper(stream: string, id: number, mutate: (frame: Buffer) => Buffer): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * The behaviour every CheckpointStore must have — run on memory, file and a real Redis
 * (in the manner of undici's cacheStoreTests).
 */
export function checkpointStoreConformance(make: (options?: BaseStoreOptions) => Promise<StoreUnderTest>): void {
  let opened: StoreUnderTest[] = [];
  const open = async (options?: BaseStoreOptions): Promise<StoreUnderTest> => {
    const s = await make(options);
    opened.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of opened) await s.cleanup();
    opened = [];
  });

  it('gives monotonic ids and returns the newest checkpoint from latest()', async () => {
    const { store } = await open();
    const a = await store.save('orders', { n: 1 });
    const b = await store.save('orders', { n: 2 });
    const c = await store.save('orders', { n: 3 });
    expect(a.id).toBeGreaterThanOrEqual(1);
    expect(b.id).toBeGreaterThan(a.id);
    expect(c.id).toBeGreaterThan(b.id);
    const latest = await store.latest<{ n: number }>('orders');
    expect(latest?.id).toBe(c.id);
    expect(latest?.data).toEqual({ n: 3 });
    expect(latest?.checksum).toBe(c.checksum);
    expect(c.checksum).toMatch(/^crc32:[0-9a-f]{8}$/);
    expect(c.size).toBeGreaterThan(0);
    expect(typeof c.createdAt).toBe('number');
  });

  it('returns undefined for a stream with no checkpoint', async () => {
    const { store } = await open();
    expect(await store.latest('nothing-here')).toBeUndefined();
    expect(await store.list('nothing-here')).toEqual([]);
    expect(await store.get('nothing-here', 1)).toBeUndefined();
  });

  it('reads any checkpoint by id, with its meta', async () => {
    const { store } = await open();
    const a = await store.save('s', ['first'], { reason: 'periodic', node: 'db-1' });
    await store.save('s', ['second']);
    const got = await store.get('s', a.id);
    expect(got?.data).toEqual(['first']);
    expect(got?.meta).toEqual({ reason: 'periodic', node: 'db-1' });
  });

  it('keeps streams apart', async () => {
    const { store } = await open();
    await store.save('a', 'A');
    await store.save('b', 'B');
    expect((await store.latest('a'))?.data).toBe('A');
    expect((await store.latest('b'))?.data).toBe('B');
  });

  it('lists checkpoints oldest first, all valid', async () => {
    const { store } = await open();
    for (let i = 0; i < 4; i++) await store.save('s', i);
    const list = await store.list('s');
    expect(list.map((c) => c.valid)).toEqual([true, true, true, true]);
    expect(list.map((c) => c.id)).toEqual([...list.map((c) => c.id)].sort((x, y) => x - y));
  });

  it('prunes to the newest `keep` and keeps ids monotonic afterwards', async () => {
    const { store } = await open();
    const infos = [];
    for (let i = 0; i < 6; i++) infos.push(await store.save('s', i));
    expect(await store.prune('s', { keep: 2 })).toBe(4);
    expect((await store.list('s')).map((c) => c.id)).toEqual([infos[4]!.id, infos[5]!.id]);
    const next = await store.save('s', 6);
    expect(next.id).toBeGreaterThan(infos[5]!.id);
    expect(await store.prune('s', { keep: 10 })).toBe(0);
  });

  it('skips a corrupt newest checkpoint, reports it, and returns the newest valid one', async () => {
    const { store, tamper } = await open();
    const good = await store.save('s', { v: 'good' });
    const bad = await store.save('s', { v: 'bad' });
    await tamper('s', bad.id, (frame) => {
      frame[frame.length - 2] = frame[frame.length - 2]! ^ 0xff;
      return frame;
    });
    const reports: unknown[] = [];
    store.on('corrupt', (e) => reports.push(e));
    const latest = await store.latest('s');
    expect(latest?.id).toBe(good.id);
    expect(latest?.data).toEqual({ v: 'good' });
    expect(reports).toEqual([{ stream: 's', id: bad.id, reason: expect.stringMatching(/checksum mismatch/) }]);
    const list = await store.list('s');
    expect(list.find((c) => c.id === bad.id)).toMatchObject({ valid: false, corrupt: expect.stringMatching(/checksum mismatch/) });
    await expect(store.get('s', bad.id)).rejects.toBeInstanceOf(CheckpointCorruptError);
  });

  it('prune never counts a corrupt checkpoint as one of the kept', async () => {
    const { store, tamper } = await open();
    const a = await store.save('s', 'a');
    const b = await store.save('s', 'b');
    const c = await store.save('s', 'c');
    await tamper('s', c.id, () => Buffer.alloc(0));
    await store.prune('s', { keep: 2 });
    const ids = (await store.list('s')).filter((x) => x.valid).map((x) => x.id);
    expect(ids).toEqual([a.id, b.id]);
  });

  it('prune and latest() agree on valid: a checkpoint with an intact frame that cannot be decoded is not one of the kept', async () => {
    const { store, tamper } = await open();
    const a = await store.save('s', 'a');
    const b = await store.save('s', 'b');
    const c = await store.save('s', 'c');
    // c: a well-formed frame (checksum right) written by a codec this store does not know.
    const stranger = { id: 201, name: 'stranger', encode: (v: unknown) => Buffer.from(JSON.stringify(v)), decode: (x: Uint8Array) => x };
    await tamper('s', c.id, () => encodeFrame(stranger, Date.now(), undefined, Buffer.from('"c"')).frame);
    expect((await store.latest('s'))?.id).toBe(b.id);
    await store.prune('s', { keep: 2 });
    // Both restorable ones stay; the unreadable one is kept too (evidence, and the highest id).
    expect((await store.list('s')).map((x) => x.id)).toEqual([a.id, b.id, c.id]);
    expect((await store.latest('s'))?.data).toBe('b');
  });

  it('gives every one of many concurrent saves its own id', async () => {
    const { store } = await open();
    const infos = await Promise.all(Array.from({ length: 25 }, (_, i) => store.save('busy', { i })));
    expect(new Set(infos.map((x) => x.id)).size).toBe(25);
    for (const info of infos) expect((await store.get<{ i: number }>('busy', info.id))?.data).toEqual({ i: infos.indexOf(info) });
  });

  it('round-trips Maps, Dates and typed arrays with the v8 codec', async () => {
    const { store } = await open({ codec: v8Codec });
    const state = { at: new Date(1_700_000_000_000), seen: new Map([['k', new Set([1, 2])]]), bytes: new Uint8Array([1, 2, 3]), big: 2n ** 70n };
    await store.save('v8', state);
    expect((await store.latest('v8'))?.data).toEqual(state);
  });

  it('refuses a checkpoint larger than maxBytes, naming the option', async () => {
    const { store } = await open({ maxBytes: 1024 });
    await expect(store.save('s', 'x'.repeat(2000))).rejects.toBeInstanceOf(CheckpointTooLargeError);
    await expect(store.save('s', 'x'.repeat(2000))).rejects.toThrow(/exceeds maxBytes=1024/);
    expect(await store.latest('s')).toBeUndefined();
  });

  it('rejects a bad stream name or meta with a message that says what is allowed', async () => {
    const { store } = await open();
    await expect(store.save('../etc', 1)).rejects.toThrow(/stream must be 1–200 characters of letters, digits/);
    await expect(store.save('', 1)).rejects.toThrow(TypeError);
    await expect(store.save('s', 1, [] as never)).rejects.toThrow(/meta must be a plain object/);
    await expect(store.prune('s', { keep: 0 })).rejects.toThrow(/keep must be an integer ≥ 1/);
  });

  it('refuses work after close()', async () => {
    const { store } = await open();
    await store.close();
    await expect(store.save('s', 1)).rejects.toMatchObject({ code: 'ERR_CHECKPOINT_STORE_CLOSED' });
  });
}
