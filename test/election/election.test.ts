import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/index.js';
import { EmbeddedLeases, elect, FencedStore, FencingGuard, StaleTokenError, type Election } from '../../src/election/index.js';
import { bundleFixture, Lines } from '../support/bundle.js';
import { describeNeeding, describeWithEtcd, REDIS, startRedis, type RunningServer } from '../support/servers.js';

describe('FencingGuard / FencedStore', () => {
  it('accepts equal or newer tokens and rejects older ones', () => {
    const g = new FencingGuard();
    g.check(3);
    g.check(3);
    g.check(7);
    expect(() => g.check(5)).toThrow(StaleTokenError);
    expect(() => g.check(5)).toThrow('write with fencing token 5 rejected: token 7 has been seen');
    expect(g.highest).toBe(7);
    expect(() => g.check(0)).toThrow(/positive integer/);
  });

  it('keeps the value written with the newest token', () => {
    const store = new FencedStore<string>();
    store.write('k', 'from leader 1', 1);
    store.write('k', 'from leader 2', 2);
    expect(() => store.write('k', 'late write of leader 1', 1)).toThrow(StaleTokenError);
    expect(store.read('k')).toEqual({ value: 'from leader 2', token: 2 });
    expect(store.stats).toEqual({ accepted: 2, rejected: 1 });
  });
});

describe('elect (embedded backend, ManualClock)', () => {
  async function candidates(n: number, clock: ManualClock, leases = new EmbeddedLeases()): Promise<Election[]> {
    const list = Array.from({ length: n }, (_, i) => elect({ backend: 'embedded', name: 'job', candidateId: `c${i}`, ttlMs: 300, leases, clock }));
    await clock.advanceAsync(0);
    return list;
  }

  it('elects exactly one leader with a fencing token', async () => {
    const clock = new ManualClock();
    const cs = await candidates(3, clock);
    for (let i = 0; i < 10; i++) {
      await clock.advanceAsync(100);
      expect(cs.filter((c) => c.isLeader)).toHaveLength(1);
    }
    expect(cs.find((c) => c.isLeader)!.fencingToken).toBe(1);
    expect(cs.filter((c) => !c.isLeader).every((c) => c.fencingToken === undefined)).toBe(true);
    for (const c of cs) await c.resign();
  });

  it('hands over on resign with a larger token, and emits elected/revoked', async () => {
    const clock = new ManualClock();
    const cs = await candidates(2, clock);
    const leader = cs.find((c) => c.isLeader)!;
    const other = cs.find((c) => c !== leader)!;
    const events: string[] = [];
    leader.on('revoked', (e) => events.push(`revoked: ${e.reason}`));
    other.on('elected', (e) => events.push(`elected ${e.fencingToken}`));
    await leader.resign();
    await clock.advanceAsync(100);
    expect(other.isLeader).toBe(true);
    expect(other.fencingToken).toBe(2);
    expect(events).toEqual(['revoked: resigned', 'elected 2']);
    await other.resign();
  });

  it('replaces a leader that stopped renewing once its lease runs out', async () => {
    const clock = new ManualClock();
    const leases = new EmbeddedLeases();
    leases.acquire('job', 'crashed-process', 300, clock.now()); // a leader that then died
    const [c] = await candidates(1, clock, leases);
    await clock.advanceAsync(299);
    expect(c!.isLeader).toBe(false);
    await clock.advanceAsync(200);
    expect(c!.isLeader).toBe(true);
    expect(c!.fencingToken).toBe(2);
    await c!.resign();
  });

  it('a leader whose renewals hang is revoked by its lease running out — reading isLeader changes nothing', async () => {
    const clock = new ManualClock();
    // A backend that stops answering (the network to it is gone): a renewal never settles, so
    // the candidate's loop waits on it and only the lease's own expiry can step it down.
    class Unreachable extends EmbeddedLeases {
      hang = false;
      override renew(name: string, holder: string, token: number, ttlMs: number, now: number): boolean {
        if (this.hang) return new Promise<boolean>(() => {}) as unknown as boolean; // never settles
        return super.renew(name, holder, token, ttlMs, now);
      }
      override acquire(name: string, holder: string, ttlMs: number, now: number): number | undefined {
        if (this.hang) throw new Error('unreachable');
        return super.acquire(name, holder, ttlMs, now);
      }
    }
    const leases = new Unreachable();
    const [c] = await candidates(1, clock, leases);
    expect(c!.isLeader).toBe(true);
    const revoked: { at: number; reason: string }[] = [];
    c!.on('revoked', (e) => revoked.push({ at: clock.now(), reason: e.reason }));
    const electedAt = clock.now();
    leases.hang = true;
    // Nobody reads isLeader while the lease runs: the step-down still happens, on time.
    await clock.advanceAsync(299);
    expect(revoked).toEqual([]);
    await clock.advanceAsync(1);
    expect(revoked).toEqual([{ at: electedAt + 300, reason: 'lease expired before it could be renewed' }]);
    expect(c!.isLeader).toBe(false);
    expect(c!.fencingToken).toBeUndefined();
    expect(revoked).toHaveLength(1); // the reads emitted nothing more
    await c!.resign();
  });

  it('rejects bad options, naming the option', () => {
    expect(() => elect({ backend: 'zookeeper' as never, name: 'x', candidateId: 'a' })).toThrow("elect: backend must be one of 'embedded', 'redis', 'etcd'");
    expect(() => elect({ backend: 'embedded', name: 'bad name', candidateId: 'a' })).toThrow(/name must be 1–128 letters/);
    expect(() => elect({ backend: 'embedded', name: 'x', candidateId: 'a', ttlMs: 5 })).toThrow(/ttlMs must be an integer ≥ 30/);
    expect(() => elect({ backend: 'redis', name: 'x', candidateId: 'a' })).toThrow(/needs exactly one of url or redis/);
    // A bad url is reported by elect(), not by the store whose parser it shares.
    expect(() => elect({ backend: 'redis', name: 'x', candidateId: 'a', url: 'http://x' })).toThrow(/^elect: url: /);
  });
});

/** A fenced resource over HTTP: PUT /write?token=N answers 200, or 409 for a stale token. */
async function fencedResource() {
  const store = new FencedStore<string>();
  const log: { token: number; by: string; status: number }[] = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    const token = Number(u.searchParams.get('token'));
    const by = u.searchParams.get('by') ?? '';
    try {
      store.write('value', by, token);
      log.push({ token, by, status: 200 });
      res.writeHead(200).end('ok');
    } catch (err) {
      log.push({ token, by, status: 409 });
      res.writeHead(409).end((err as Error).message);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { store, log, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describeNeeding(REDIS, 'elect (Redis backend) with real processes', () => {
  let redis: RunningServer;
  let fixture: { file: string; cleanup: () => void };
  let resource: Awaited<ReturnType<typeof fencedResource>>;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    fixture = await bundleFixture(path.join(import.meta.dirname, 'fixtures/candidate.ts'));
    resource = await fencedResource();
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await resource?.close();
    fixture?.cleanup();
    await redis?.stop();
  });

  function candidate(name: string, id: string, ttlMs: number): { child: ChildProcess; lines: Lines } {
    const child = spawn(process.execPath, [fixture.file, redis.url, name, id, String(ttlMs), resource.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const lines = new Lines();
    child.stdout!.on('data', (c: Buffer) => lines.feed(c));
    child.stderr!.on('data', (c: Buffer) => lines.feed(`stderr: ${c}`));
    return { child, lines };
  }

  // How fast the takeover is — within ttlMs of the last renewal — is tested on a ManualClock
  // ("replaces a leader that stopped renewing once its lease runs out") and measured in bench/.
  it('elects a new leader, with a larger token, after the leader is SIGKILLed', async () => {
    const ttlMs = 1000;
    const cs = ['a', 'b', 'c'].map((id) => ({ id, ...candidate('kill-test', id, ttlMs) }));
    const first = await Promise.any(cs.map(async (c) => ((await c.lines.waitFor(/^elected (\d+)$/)), c)));
    const firstToken = Number((await first.lines.waitFor(/^elected (\d+)$/))[1]);
    first.child.kill('SIGKILL');
    const others = cs.filter((c) => c !== first);
    const next = await Promise.any(others.map(async (c) => ((await c.lines.waitFor(/^elected (\d+)$/)), c)));
    const nextToken = Number((await next.lines.waitFor(/^elected (\d+)$/))[1]);
    expect(nextToken).toBeGreaterThan(firstToken);
    for (const c of others) c.child.kill('SIGKILL');
  });

  it('fences off a leader paused past its TTL: after SIGCONT its stale writes are rejected (no split brain)', async () => {
    const ttlMs = 600;
    const a = candidate('pause-test', 'p1', ttlMs);
    const firstToken = Number((await a.lines.waitFor(/^elected (\d+)$/))[1]);
    const b = candidate('pause-test', 'p2', ttlMs);
    await a.lines.waitFor(new RegExp(`^write ${firstToken} 200$`));
    // Pause it inside its critical section: right after it decided to write with its token.
    await a.lines.waitFor(new RegExp(`^decided ${firstToken}$`), 10_000, a.lines.all.length);
    a.child.kill('SIGSTOP');
    const secondToken = Number((await b.lines.waitFor(/^elected (\d+)$/, 10_000))[1]);
    expect(secondToken).toBeGreaterThan(firstToken);
    await b.lines.waitFor(new RegExp(`^write ${secondToken} 200$`));
    const mark = a.lines.all.length;
    a.child.kill('SIGCONT');
    // The paused leader wakes inside its critical section and writes with its old token: refused.
    await a.lines.waitFor(new RegExp(`^write ${firstToken} 409$`), 10_000, mark);
    await a.lines.waitFor(/^revoked /, 10_000, mark);
    // The resource never took a write older than one it had already taken.
    let highest = 0;
    for (const w of resource.log) {
      if (w.status === 200) {
        expect(w.token).toBeGreaterThanOrEqual(highest);
        highest = w.token;
      } else expect(w.token).toBeLessThan(highest);
    }
    a.child.kill('SIGKILL');
    b.child.kill('SIGKILL');
  });
});

describeWithEtcd('elect (etcd backend)', (etcd) => {
  it('elects one leader, whose token is its key revision, and hands over on resign', async () => {
    const a = elect({ backend: 'etcd', endpoints: [etcd().url], name: 'etcd-job', candidateId: 'a', ttlMs: 2000 });
    const aElected = new Promise<number>((r) => a.on('elected', (e) => r(e.fencingToken)));
    const tokenA = await aElected;
    const b = elect({ backend: 'etcd', endpoints: [etcd().url], name: 'etcd-job', candidateId: 'b', ttlMs: 2000 });
    const bElected = new Promise<number>((r) => b.on('elected', (e) => r(e.fencingToken)));
    await new Promise((r) => setTimeout(r, 300));
    expect(a.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);
    await a.resign();
    const tokenB = await bElected;
    expect(tokenB).toBeGreaterThan(tokenA);
    expect(b.fencingToken).toBe(tokenB);
    await b.resign();
  });
});

describe('elect (consul backend) against the Consul-compatible registry server', () => {
  it('elects one leader, hands over on resign and when its session is destroyed, always with a larger token', async () => {
    const { EmbeddedRegistry, RegistryServer } = await import('../../src/registry/index.js');
    const registry = new EmbeddedRegistry();
    const server = await new RegistryServer({ registry, port: 0 }).listen();
    try {
      const url = server.url;
      const a = elect({ backend: 'consul', url, name: 'consul-job', candidateId: 'a', ttlMs: 1000 });
      const tokenA = await new Promise<number>((r) => a.on('elected', (e) => r(e.fencingToken)));
      const b = elect({ backend: 'consul', url, name: 'consul-job', candidateId: 'b', ttlMs: 1000 });
      const bElected = new Promise<number>((r) => b.on('elected', (e) => r(e.fencingToken)));
      await new Promise((r) => setTimeout(r, 400));
      expect(a.isLeader).toBe(true);
      expect(b.isLeader).toBe(false);
      // The lock is a KV key held by a session, visible through the Consul API.
      const held = (await (await fetch(`${url}/v1/kv/steadfast/election/consul-job`)).json()) as { Session?: string }[];
      expect(held[0]!.Session).toBeTruthy();
      await a.resign();
      const tokenB = await bElected;
      expect(tokenB).toBeGreaterThan(tokenA);
      // c waits; b's session is destroyed behind its back (as an operator or a failed node check
      // would): b must step down, and whoever leads next has a larger token.
      const c = elect({ backend: 'consul', url, name: 'consul-job', candidateId: 'c', ttlMs: 1000 });
      const revokedB = new Promise<string>((r) => b.on('revoked', (e) => r(e.reason)));
      const next = new Promise<number>((r) => {
        c.on('elected', (e) => r(e.fencingToken));
        b.on('elected', (e) => r(e.fencingToken));
      });
      const sessions = (await (await fetch(`${url}/v1/session/list`)).json()) as { ID: string; Name: string }[];
      const bSession = sessions.find((s) => s.Name.endsWith(' b'))!;
      await fetch(`${url}/v1/session/destroy/${bSession.ID}`, { method: 'PUT' });
      expect(await revokedB).toMatch(/taken over|expired/);
      expect(await next).toBeGreaterThan(tokenB);
      await new Promise((r) => setTimeout(r, 400));
      expect([b.isLeader, c.isLeader].filter(Boolean)).toHaveLength(1);
      await b.resign();
      await c.resign();
    } finally {
      await server.close();
      await registry.close();
    }
  });

  it('names the url when it is missing', () => {
    expect(() => elect({ backend: 'consul', name: 'x', candidateId: 'a' })).toThrow(/consul backend needs url/);
  });
});
