/**
 * The demo's db tier on real HTTP servers in this process: quorum writes that survive a dead
 * node, read repair, restore + catch-up after a restart, fencing, and input validation. (The
 * end-to-end test, system.test.ts, does the same with real processes and SIGKILL.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/core/http.js';
import type { DemoNodeConfig } from '../../src/demo/config.js';
import { DbClient, QuorumError } from '../../src/demo/db-client.js';
import { AbortedError } from '../../src/core/errors.js';
import http from 'node:http';
import { ManualClock } from '../../src/core/clock.js';
import { createDbNode, type DbEntry, type DbNode } from '../../src/demo/db-node.js';
import { FileJournal } from '../../src/recovery/journals/file.js';
import { createWebNode } from '../../src/demo/web-node.js';
import { DemoSystem } from '../../src/demo/system.js';
import { elect } from '../../src/election/index.js';
import { FileCheckpointStore } from '../../src/recovery/stores/file.js';

const SECRET = 'the-runs-secret';
const AUTH = { authorization: `Bearer ${SECRET}` };
let dir: string;
let nodes: { id: string; url: string; port: number }[];
let running: Map<string, { node: DbNode; store: FileCheckpointStore }>;
const journalDir = (id: string): string => path.join(dir, '.journal', id);

function config(id: string): DemoNodeConfig {
  const port = nodes.find((n) => n.id === id)!.port;
  return { role: 'db', id, port, dbNodes: nodes.map(({ id, url }) => ({ id, url })), replicas: 2, writeQuorum: 2, registry: { kind: 'consul', url: 'http://127.0.0.1:1' }, store: { kind: 'file', dir }, ttlMs: 500, heartbeatMs: 150, detector: 'ttl', electionTtlMs: 1000, dbTimeoutMs: 500, secret: SECRET };
}

async function startNode(id: string): Promise<{ restoredId: number | undefined; replayed: number; restoredItems: number; caughtUpItems: number }> {
  const store = new FileCheckpointStore({ dir });
  const node = createDbNode(config(id), store, await FileJournal.open<DbEntry>({ dir: journalDir(id) }));
  running.set(id, { node, store });
  return node.start();
}

async function stopNode(id: string): Promise<void> {
  const r = running.get(id)!;
  running.delete(id);
  await r.node.close();
  await r.store.close();
}

/** A request to a db node as the web tier makes it: with the run's secret (unless `anonymous`). */
async function json(url: string, init?: RequestInit & { anonymous?: boolean }): Promise<{ status: number; body: any }> {
  const { anonymous, ...rest } = init ?? {};
  const res = await fetch(url, { ...rest, headers: { ...(anonymous ? {} : AUTH), ...((rest.headers as Record<string, string>) ?? {}) } });
  return { status: res.status, body: await res.json().catch(() => null) };
}

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-kv-'));
  nodes = [];
  for (const id of ['db-1', 'db-2', 'db-3']) {
    const port = await freePort();
    nodes.push({ id, port, url: `http://127.0.0.1:${port}` });
  }
  running = new Map();
  await Promise.all(nodes.map((n) => startNode(n.id)));
});

afterEach(async () => {
  await Promise.all([...running.keys()].map((id) => stopNode(id)));
  rmSync(dir, { recursive: true, force: true });
});

describe('demo db tier (real HTTP servers, file checkpoints)', () => {
  it('acknowledges a write once W = 2 nodes saved it, on the first two nodes of the ring', async () => {
    const client = new DbClient({ secret: SECRET, nodes, replicas: 2, writeQuorum: 2, perTryTimeoutMs: 500 });
    const saved = await client.write('cart-a', 'i1', { sku: 'pen', qty: 2 });
    expect(saved.sort()).toEqual(client.preferenceList('cart-a').slice(0, 2).sort());
    for (const id of saved) {
      const r = await json(`${nodes.find((n) => n.id === id)!.url}/kv/cart-a`);
      expect(r.body.items).toEqual({ i1: { sku: 'pen', qty: 2 } });
    }
    // acknowledged = its record is in the owner's journal on disk
    const owner = saved[0]!;
    await stopNode(owner);
    const journal = await FileJournal.open<DbEntry>({ dir: journalDir(owner) });
    const records: DbEntry[] = [];
    for await (const r of journal.read()) records.push(r.value);
    expect(records).toContainEqual({ t: 'put', key: 'cart-a', id: 'i1', item: { sku: 'pen', qty: 2 } });
    await journal.close();
    await client.close();
  });

  it('with an owner down, the next node on the ring takes the write (sloppy quorum) and reads still see it', async () => {
    const client = new DbClient({ secret: SECRET, nodes, replicas: 2, writeQuorum: 2, perTryTimeoutMs: 500 });
    const [first] = client.preferenceList('cart-b');
    await stopNode(first!);
    const saved = await client.write('cart-b', 'i1', { sku: 'ink', qty: 1 });
    expect(saved).not.toContain(first);
    expect(saved).toHaveLength(2);
    const r = await client.read('cart-b');
    expect(Object.keys(r.items)).toEqual(['i1']);
    expect(client.stats.failovers).toBeGreaterThan(0);
    await client.close();
  });

  describe('a db node that stops answering (SIGSTOP)', () => {
    // db-3 is replaced by a server that accepts requests and never answers, as a stopped
    // process does. Its calls are given a minute, so none can fail by itself during the test.
    async function stoppedNode(): Promise<{ url: string; held: http.ServerResponse[]; close: () => void }> {
      await stopNode('db-3');
      const held: http.ServerResponse[] = [];
      const server = http.createServer((_q, res) => void held.push(res));
      await new Promise<void>((r) => server.listen(nodes.find((n) => n.id === 'db-3')!.port, '127.0.0.1', r));
      return { url: nodes.find((n) => n.id === 'db-3')!.url, held, close: () => (server.closeAllConnections(), server.close()) };
    }
    const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

    it('a call whose caller went away stops, without making the node suspect', async () => {
      const stopped = await stoppedNode();
      const clock = new ManualClock();
      const client = new DbClient({ secret: SECRET, nodes, replicas: 2, writeQuorum: 2, perTryTimeoutMs: 60_000, hedgeAfterMs: 50, clock });
      try {
        const key = Array.from({ length: 200 }, (_, i) => `k${i}`).find((k) => client.preferenceList(k)[0] === 'db-3')!;
        const gone = new AbortController();
        const read = client.read(key, { signal: gone.signal }).catch((e: unknown) => e);
        while (stopped.held.length === 0) await tick();
        gone.abort();
        expect(await read).toBeInstanceOf(AbortedError);
        // The stopped node saw its request closed: the call did not go on holding a connection.
        while (!stopped.held[0]!.destroyed) await tick();
        expect(client.preferenceList(key)[0]).toBe('db-3');
      } finally {
        stopped.close();
        await client.close();
      }
    });
  });

  it('fails a write that cannot reach W nodes, with the reasons', async () => {
    const client = new DbClient({ secret: SECRET, nodes, replicas: 2, writeQuorum: 2, perTryTimeoutMs: 500 });
    await stopNode('db-1');
    await stopNode('db-2');
    const err = await client.write('cart-c', 'i1', { sku: 'x', qty: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuorumError);
    expect((err as QuorumError).message).toMatch(/saved by 1 of the 2 nodes it needs/);
    expect((err as QuorumError).failures.map((f) => f.node).sort()).toEqual(['db-1', 'db-2']);
    await client.close();
  });

  it('a node shut down gracefully saves a final checkpoint: its next start has nothing to replay', async () => {
    const client = new DbClient({ secret: SECRET, nodes, replicas: 2, writeQuorum: 2, perTryTimeoutMs: 500 });
    for (let i = 0; i < 20; i++) await client.write(`g${i}`, 'x', { sku: 's', qty: 1 });
    const r = running.get('db-1')!;
    running.delete('db-1');
    await r.node.shutdown();
    await r.store.close();
    const info = await startNode('db-1');
    expect(info.replayed).toBe(0);
    expect(info.restoredItems).toBeGreaterThan(0);
    await client.close();
  });

  it('a node restarted after missing writes restores its checkpoint and catches up from its peers', async () => {
    const client = new DbClient({ secret: SECRET, nodes, replicas: 2, writeQuorum: 2, perTryTimeoutMs: 500 });
    for (let i = 0; i < 20; i++) await client.write(`k${i}`, 'before', { sku: 's', qty: 1 });
    await stopNode('db-2');
    for (let i = 0; i < 20; i++) await client.write(`k${i}`, 'during', { sku: 's', qty: 1 });
    const info = await startNode('db-2');
    expect(info.restoredId).toBeGreaterThan(0);
    expect(info.replayed).toBeGreaterThan(0); // the writes after its last checkpoint, from its journal
    expect(info.restoredItems).toBeGreaterThan(0);
    expect(info.caughtUpItems).toBeGreaterThan(0);
    // every key db-2 owns now has both items on db-2 itself
    for (let i = 0; i < 20; i++) {
      if (!client.preferenceList(`k${i}`).slice(0, 2).includes('db-2')) continue;
      const r = await json(`${nodes[1]!.url}/kv/k${i}`);
      expect(Object.keys(r.body.items).sort()).toEqual(['before', 'during']);
    }
    await client.close();
  });

  it('repairs a replica that missed an item when a read sees the difference', async () => {
    const client = new DbClient({ secret: SECRET, nodes, replicas: 2, writeQuorum: 1, perTryTimeoutMs: 500 });
    const [a, b] = client.preferenceList('cart-r');
    // write straight to one replica only
    await fetch(`${nodes.find((n) => n.id === a)!.url}/kv/cart-r/only-a`, { method: 'PUT', headers: AUTH, body: JSON.stringify({ sku: 'z', qty: 3 }) });
    const r = await client.read('cart-r');
    expect(Object.keys(r.items)).toEqual(['only-a']);
    await expect.poll(async () => Object.keys((await json(`${nodes.find((n) => n.id === b)!.url}/kv/cart-r`)).body.items)).toEqual(['only-a']);
    expect(client.stats.repairs).toBe(1);
    await client.close();
  });

  it('refuses maintenance writes with a fencing token older than one it has seen — also after a restart', async () => {
    const url = nodes[0]!.url;
    const put = (token: string) => json(`${url}/maintenance`, { method: 'PUT', headers: { 'x-fencing-token': token }, body: JSON.stringify({ leader: 'w', run: 1 }) });
    expect((await put('7')).status).toBe(200);
    const stale = await put('5');
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatch(/fencing token 5 rejected: token 7 has been seen/);
    expect((await put('abc')).status).toBe(400);
    // the highest token was journaled before the 200: a restarted node still refuses the deposed leader
    await stopNode('db-1');
    await startNode('db-1');
    expect((await put('6')).status).toBe(409);
  });

  it('refuses data and maintenance requests without the run\'s secret: a forged fencing token cannot lock the leader out', async () => {
    const url = nodes[0]!.url;
    // Before: one unauthenticated PUT with token 2^53 − 1 made every later token stale, for good.
    const forged = await json(`${url}/maintenance`, { anonymous: true, method: 'PUT', headers: { 'x-fencing-token': String(2 ** 53 - 1) }, body: JSON.stringify({ leader: 'attacker' }) });
    expect(forged.status).toBe(401);
    expect(forged.body.error).toMatch(/needs the run's secret/);
    const wrong = await json(`${url}/maintenance`, { anonymous: true, method: 'PUT', headers: { 'x-fencing-token': '9', authorization: 'Bearer guess' }, body: '{}' });
    expect(wrong.status).toBe(401);
    expect((await json(`${url}/kv/c/i`, { anonymous: true, method: 'PUT', body: JSON.stringify({ sku: 'a', qty: 1 }) })).status).toBe(401);
    expect((await json(`${url}/merge`, { anonymous: true, method: 'POST', body: '{}' })).status).toBe(401);
    expect((await json(`${url}/dump`, { anonymous: true })).status).toBe(401);
    expect((await json(`${url}/status`, { anonymous: true })).body.fencing.highest).toBe(0);
    // The real leader's token is still accepted.
    expect((await json(`${url}/maintenance`, { method: 'PUT', headers: { 'x-fencing-token': '3' }, body: JSON.stringify({ leader: 'web-1' }) })).status).toBe(200);
  });

  it('answers bad input with 400 naming the field', async () => {
    const url = nodes[0]!.url;
    expect((await json(`${url}/kv/ok/i1`, { method: 'PUT', body: JSON.stringify({ sku: 'a', qty: 0 }) })).body.error).toMatch(/qty must be an integer from 1 to 1000, got 0/);
    expect((await json(`${url}/kv/ok/i1`, { method: 'PUT', body: JSON.stringify({ sku: '', qty: 1 }) })).body.error).toMatch(/sku must be a string of 1 to 64/);
    expect((await json(`${url}/kv/ok/i1`, { method: 'PUT', body: JSON.stringify({ sku: 'a', qty: 1, price: 3 }) })).body.error).toMatch(/unknown field "price"/);
    expect((await json(`${url}/kv/bad key/i1`, { method: 'PUT', body: '{}' })).status).toBe(400);
    expect((await json(`${url}/kv/ok/i1`, { method: 'PUT', body: 'not json' })).body.error).toMatch(/body must be JSON/);
    expect((await json(`${url}/merge`, { method: 'POST', body: JSON.stringify({ entries: { k: { i: { sku: 'a', qty: -1 } } } }) })).body.error).toMatch(/entries\.k\.i: qty/);
  });
});

describe('demo web tier', () => {
  it('serves the carts API over the db and validates requests, naming the field', async () => {
    const { EmbeddedRegistry, RegistryServer } = await import('../../src/registry/index.js');
    const registry = new EmbeddedRegistry();
    const server = await new RegistryServer({ registry, port: 0 }).listen();
    const db = new DbClient({ secret: SECRET, nodes, replicas: 2, writeQuorum: 2, perTryTimeoutMs: 500 });
    const election = elect({ backend: 'consul', url: server.url, name: 'web-test', candidateId: 'web-1', ttlMs: 500 });
    const port = await freePort();
    const web = createWebNode({ ...config('db-1'), role: 'web', id: 'web-1', port }, db, election);
    await web.start();
    const base = `http://127.0.0.1:${port}`;
    try {
      const put = await json(`${base}/api/carts/c1/items/i1`, { method: 'PUT', body: JSON.stringify({ sku: 'book', qty: 1 }) });
      expect(put.status).toBe(200);
      expect(put.body.replicas).toHaveLength(2);
      const again = await json(`${base}/api/carts/c1/items/i1`, { method: 'PUT', body: JSON.stringify({ sku: 'book', qty: 1 }) });
      expect(again.status).toBe(200); // idempotent: the id is the client's
      const get = await json(`${base}/api/carts/c1`);
      expect(get.body).toMatchObject({ cart: 'c1', items: { i1: { sku: 'book', qty: 1 } }, complete: true });
      expect((await json(`${base}/api/carts/c1/items/i2`, { method: 'PUT', body: JSON.stringify({ sku: 'book', qty: 1001 }) })).body.error).toMatch(/qty must be an integer from 1 to 1000/);
      expect((await json(`${base}/api/carts/c1/items/i2`, { method: 'PUT', body: '{' })).body.error).toMatch(/body must be JSON/);
      expect((await json(`${base}/api/carts/c!1`)).status).toBe(400);
      expect((await json(`${base}/api/carts/c1`, { method: 'DELETE' })).status).toBe(405);
      expect((await json(`${base}/nope`)).status).toBe(404);
      // the elected replica runs the maintenance task and records it on the db, fenced
      await expect.poll(async () => ((await json(`${nodes[0]!.url}/status`)).body.maintenance?.leader ?? null), { timeout: 5000 }).toBe('web-1');
    } finally {
      await web.close();
      await election.resign();
      await db.close();
      await server.close();
      await registry.close();
    }
  });
});

describe('DemoSystem options', () => {
  it('rejects bad options, naming the option and the accepted range', () => {
    expect(() => new DemoSystem({ durationMs: 10 })).toThrow(/durationMs must be an integer ≥ 1000/);
    expect(() => new DemoSystem({ durationMs: 5000, dbNodes: 3, replicas: 4 })).toThrow(/replicas must be an integer ≥ 1 and ≤ 3, got 4/);
    expect(() => new DemoSystem({ durationMs: 5000, replicas: 2, writeQuorum: 3 })).toThrow(/writeQuorum must be an integer ≥ 1 and ≤ 2, got 3/);
    expect(() => new DemoSystem({ durationMs: 5000, registry: 'zk://x' })).toThrow(/registry must be 'embedded', 'etcd-cluster' or etcd:\/\/host:port/);
    expect(() => new DemoSystem({ durationMs: 5000, store: 's3://x' })).toThrow(/store must be 'file' or redis:\/\/host:port/);
    expect(() => new DemoSystem({ durationMs: 5000, faults: ['explode' as never] })).toThrow(/faults must be a non-empty list of kill, pause, restart, partition, loss, flap, skew/);
    expect(() => new DemoSystem({ durationMs: 5000, faults: ['partition'], hosts: 'loopback' })).toThrow(/faults partition cut links between processes, which needs hosts: 'namespaces'/);
    expect(() => new DemoSystem({ durationMs: 5000, hosts: 'vm' as never })).toThrow(/hosts must be one of/);
    expect(() => new DemoSystem({ durationMs: 5000, networkFaultMs: 50 })).toThrow(/networkFaultMs/);
    expect(() => new DemoSystem({ durationMs: 5000, colour: 'red' } as never)).toThrow(/colour/);
    expect(() => new DemoSystem({ durationMs: 5000, gateways: 0 })).toThrow(/gateways must be an integer ≥ 1 and ≤ 4, got 0/);
    expect(() => new DemoSystem({ durationMs: 5000, maxConcurrentFaults: 4 })).toThrow(/maxConcurrentFaults must be an integer ≥ 1 and ≤ 3, got 4/);
  });
});

