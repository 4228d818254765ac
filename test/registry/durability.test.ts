import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, promises as fs, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileCheckpointStore } from '../../src/recovery/index.js';
import { EmbeddedRegistry, RegistryRestoreError, RegistryServer } from '../../src/registry/index.js';

const put = (url: string, body?: string | Buffer): Promise<Response> => fetch(url, { method: 'PUT', ...(body !== undefined ? { body: typeof body === 'string' ? body : new Uint8Array(body) } : {}) });

/**
 * Holds every save of `store` until release(); answeredEarly(response) resolves once a save has begun
 * and ample time passed for a response that does not wait for it (it would come in ~1 ms),
 * with whether the response came meanwhile.
 */
function gateSaves(store: FileCheckpointStore): { release: () => void; answeredEarly: (res: Promise<Response>) => Promise<boolean> } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let saves = 0;
  const save = store.save.bind(store);
  store.save = async (stream, data, meta) => {
    saves++;
    await gate; // the disk is slow: the save has not finished
    return save(stream, data, meta);
  };
  return {
    release,
    answeredEarly: async (res) => {
      let answered = false;
      void res.then(() => (answered = true), () => (answered = true));
      while (saves === 0) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 200));
      return answered;
    },
  };
}

async function serve(dir: string, options: { maxKvBytes?: number; maxBytes?: number } = {}): Promise<{ registry: EmbeddedRegistry; server: RegistryServer; stop: () => Promise<void> }> {
  const store = new FileCheckpointStore({ dir, ...(options.maxBytes ? { maxBytes: options.maxBytes } : {}) });
  const registry = await EmbeddedRegistry.open({ store, ...(options.maxKvBytes ? { maxKvBytes: options.maxKvBytes } : {}) });
  const server = await new RegistryServer({ registry, port: 0 }).listen();
  return {
    registry,
    server,
    stop: async () => {
      await server.close();
      await registry.close();
      await store.close();
    },
  };
}

describe('the registry with a data folder', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-reg-durable-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the newest KV write across a clean restart', async () => {
    // Before: put() checkpointed before it stored the entry, so every checkpoint missed the
    // write that caused it.
    const a = await serve(dir);
    expect(await (await put(`${a.server.url}/v1/kv/first`, 'one')).json()).toBe(true);
    await a.registry.checkpoint(); // quiet: no save in flight that a later write could ride on
    expect(await (await put(`${a.server.url}/v1/kv/newest`, 'two')).json()).toBe(true);
    await a.stop();
    const b = await serve(dir);
    expect(await (await fetch(`${b.server.url}/v1/kv/newest?raw`)).text()).toBe('two');
    expect(await (await fetch(`${b.server.url}/v1/kv/first?raw`)).text()).toBe('one');
    await b.stop();
  });

  it('answers a write only after the checkpoint that holds it is saved', async () => {
    const store = new FileCheckpointStore({ dir });
    const gated = gateSaves(store);
    const registry = await EmbeddedRegistry.open({ store });
    const server = await new RegistryServer({ registry, port: 0 }).listen();
    const res = put(`${server.url}/v1/kv/k`, 'v');
    expect(await gated.answeredEarly(res)).toBe(false);
    gated.release();
    expect((await res).status).toBe(200);
    await server.close();
    await registry.close();
  });

  it('answers a check registration only after it is saved, and has it after a restart', async () => {
    const store = new FileCheckpointStore({ dir });
    const registry = await EmbeddedRegistry.open({ store });
    const server = await new RegistryServer({ registry, port: 0 }).listen();
    expect((await put(`${server.url}/v1/agent/service/register`, JSON.stringify({ Name: 'web', ID: 'web-1', Port: 1 }))).status).toBe(200);
    await registry.checkpoint(); // quiet: no save in flight that the check could ride on
    const gated = gateSaves(store);
    const res = put(`${server.url}/v1/agent/check/register`, JSON.stringify({ Name: 'disk', ServiceID: 'web-1', TTL: '30s' }));
    expect(await gated.answeredEarly(res)).toBe(false);
    gated.release();
    expect((await res).status).toBe(200);
    await server.close();
    await registry.close();
    await store.close();
    const b = await serve(dir);
    const checks = (await (await fetch(`${b.server.url}/v1/agent/checks`)).json()) as Record<string, { ServiceID: string }>;
    expect(checks.disk).toMatchObject({ ServiceID: 'web-1' });
    await b.stop();
  });

  it('refuses a KV write past what it can persist with 413, and loses nothing it acknowledged', async () => {
    // Before: a CheckpointTooLargeError was swallowed, writes were acknowledged and then lost.
    const a = await serve(dir, { maxKvBytes: 256 * 1024 });
    const value = Buffer.alloc(100 * 1024, 7);
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await put(`${a.server.url}/v1/kv/big/${i}`, value)).status);
    expect(codes).toEqual([200, 200, 413, 413]);
    const refused = await put(`${a.server.url}/v1/kv/big/9`, value);
    expect(await refused.text()).toMatch(/over its limit of 262144/);
    expect((await put(`${a.server.url}/v1/kv/small`, 'fits')).status).toBe(200);
    await a.stop();
    const b = await serve(dir, { maxKvBytes: 256 * 1024 });
    expect((await (await fetch(`${b.server.url}/v1/kv/big/?recurse`)).json()).length).toBe(2);
    expect(await (await fetch(`${b.server.url}/v1/kv/small?raw`)).text()).toBe('fits');
    await b.stop();
  });

  it('answers 500 — never 200 — when the checkpoint cannot be saved, and reports it', async () => {
    const a = await serve(dir, { maxBytes: 64 * 1024 });
    const failures: string[] = [];
    a.registry.on('persistFailed', (e) => failures.push(e.error.message));
    expect((await put(`${a.server.url}/v1/kv/ok`, 'small')).status).toBe(200);
    const res = await put(`${a.server.url}/v1/kv/huge`, Buffer.alloc(100 * 1024, 1));
    expect(res.status).toBe(500);
    expect(await res.text()).toMatch(/not durable: checkpoint of \d+ bytes exceeds maxBytes=65536/);
    expect(failures).toHaveLength(1);
    await a.stop();
  });

  it('refuses to start empty when every checkpoint is corrupt, names the files and deletes none', async () => {
    const a = await serve(dir);
    await put(`${a.server.url}/v1/kv/k`, 'v');
    await a.stop();
    const files = readdirSync(path.join(dir, 'registry')).filter((n) => n.endsWith('.ckpt'));
    for (const f of files) await fs.writeFile(path.join(dir, 'registry', f), 'garbage');
    const store = new FileCheckpointStore({ dir });
    const err = await EmbeddedRegistry.open({ store }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryRestoreError);
    expect((err as Error).message).toContain(path.join(dir, 'registry', files[files.length - 1]!));
    expect((err as Error).message).toMatch(/refuses to start empty.*Nothing was deleted/);
    expect(readdirSync(path.join(dir, 'registry')).filter((n) => n.endsWith('.ckpt'))).toEqual(files);
    await store.close();
  });

  it('starts from an older valid checkpoint when the newest is corrupt, and says so', async () => {
    const a = await serve(dir);
    await put(`${a.server.url}/v1/kv/k`, 'old');
    await put(`${a.server.url}/v1/kv/k`, 'new');
    await a.stop();
    const files = readdirSync(path.join(dir, 'registry')).filter((n) => n.endsWith('.ckpt')).sort();
    await fs.writeFile(path.join(dir, 'registry', files[files.length - 1]!), 'garbage');
    const store = new FileCheckpointStore({ dir });
    const registry = new EmbeddedRegistry({ store });
    const said: { id: number; skipped: { where: string }[] }[] = [];
    registry.on('restoredOlder', (e) => said.push(e));
    await registry.restore();
    expect(registry.kv.get('k')?.value.toString()).toBe('old');
    expect(said).toHaveLength(1);
    expect(said[0]!.skipped[0]!.where).toBe(path.join(dir, 'registry', files[files.length - 1]!));
    await registry.close();
    await store.close();
  });

  it('steadfast registry exits 1 naming the corrupt file instead of serving an empty registry', async () => {
    const a = await serve(dir);
    await put(`${a.server.url}/v1/kv/k`, 'v');
    await a.stop();
    for (const f of readdirSync(path.join(dir, 'registry'))) await fs.writeFile(path.join(dir, 'registry', f), 'garbage');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'registry', '--port', '0', '--json', '--data-dir', dir], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/every checkpoint of the registry is corrupt/);
    expect(r.stdout).toBe('');
  });
});

/** `steadfast registry --data-dir` as its own process. */
async function startCli(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'registry', '--port', '0', '--json', '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve((JSON.parse(out.split('\n')[0]!) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`registry exited ${code}`)));
  });
  return { child, url };
}

describe('steadfast registry --data-dir SIGKILLed right after it answers', () => {
  it('has every acknowledged registration and KV write after the restart, in each of 3 rounds', async () => {
    // Before: the 200 came before the checkpoint was written: 5 of 5 registrations were missing.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-reg-kill-'));
    try {
      for (let round = 0; round < 3; round++) {
        const { child, url } = await startCli(dir);
        const reg = await put(`${url}/v1/agent/service/register`, JSON.stringify({ Name: 'api', ID: `api-${round}`, Port: 8000 + round }));
        const kv = await put(`${url}/v1/kv/round/${round}`, String(round));
        expect([reg.status, kv.status]).toEqual([200, 200]);
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
        const again = await startCli(dir);
        const services = (await (await fetch(`${again.url}/v1/agent/services`)).json()) as Record<string, unknown>;
        expect(Object.keys(services).sort()).toEqual(Array.from({ length: round + 1 }, (_, i) => `api-${i}`));
        expect(await (await fetch(`${again.url}/v1/kv/round/${round}?raw`)).text()).toBe(String(round));
        const done = new Promise((r) => again.child.once('exit', r));
        again.child.kill('SIGKILL');
        await done;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
