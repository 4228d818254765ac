import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, seededRandom } from '../../src/core/index.js';
import { Balancer, createFailoverClient, UpstreamUnavailableError } from '../../src/balance/index.js';
import { EmbeddedRegistry } from '../../src/registry/index.js';
import { freePort } from '../support/servers.js';

const urls = ['http://127.0.0.1:1', 'http://127.0.0.1:2', 'http://127.0.0.1:3', 'http://127.0.0.1:4'];

describe('Balancer', () => {
  it('round-robin cycles through the endpoints', () => {
    const b = new Balancer({ instances: urls.slice(0, 3), strategy: 'round-robin' });
    expect([0, 1, 2, 3].map(() => b.preferenceList()[0]!.url)).toEqual([urls[0], urls[1], urls[2], urls[0]]);
  });

  it('least-outstanding and p2c prefer the endpoint with fewer requests in flight', () => {
    for (const strategy of ['least-outstanding', 'p2c'] as const) {
      const b = new Balancer({ instances: urls.slice(0, 2), strategy, random: seededRandom(1) });
      const busy = b.endpoints[0]!;
      const leases = [b.acquire(busy), b.acquire(busy)];
      for (let i = 0; i < 20; i++) expect(b.preferenceList()[0]!.id).toBe(urls[1]);
      leases.forEach((l) => l.done(true));
    }
  });

  it('consistent-hash sends a key to the same endpoint, and to another when that one is ejected', () => {
    const clock = new ManualClock();
    const b = new Balancer({ instances: urls, strategy: 'consistent-hash', clock, outlier: { consecutiveFailures: 1, maxEjectionRatio: 0.5 } });
    const first = b.preferenceList('user-42')[0]!;
    for (let i = 0; i < 10; i++) expect(b.preferenceList('user-42')[0]).toEqual(first);
    b.acquire(first).done(false);
    const next = b.preferenceList('user-42')[0]!;
    expect(next.id).not.toBe(first.id);
  });

  it('ejects an endpoint after consecutive failures, for a growing time, never more than maxEjectionRatio', () => {
    const clock = new ManualClock();
    const b = new Balancer({ instances: urls, clock, outlier: { consecutiveFailures: 3, baseEjectionMs: 1000, maxEjectionRatio: 0.5 } });
    const events: string[] = [];
    b.on('eject', (e) => events.push(`eject ${e.endpoint.id} until ${e.untilMs}`));
    const fail = (url: string, n: number): void => {
      for (let i = 0; i < n; i++) b.acquire({ id: url, url }).done(false);
    };
    fail(urls[0]!, 3);
    expect(events).toEqual([`eject ${urls[0]} until 1000`]);
    expect(b.preferenceList().at(-1)!.id).toBe(urls[0]); // ejected endpoints come last
    fail(urls[1]!, 3);
    fail(urls[2]!, 3); // a third would pass 50 % of 4: refused
    expect(b.view().filter((v) => v.ejected).map((v) => v.id)).toEqual([urls[0], urls[1]]);
    clock.advance(1000);
    expect(b.view().find((v) => v.id === urls[0])!.ejected).toBe(false);
    fail(urls[0]!, 1); // fails again right away: ejected twice as long
    expect(events.at(-1)).toBe(`eject ${urls[0]} until 3000`);
  });

  it('follows the healthy instances of a registry service', async () => {
    const registry = new EmbeddedRegistry();
    await registry.register({ id: 'w1', service: 'web', address: '127.0.0.1', port: 8001 });
    const b = new Balancer({ registry, service: 'web' });
    await b.whenReady();
    expect(b.endpoints).toEqual([{ id: 'w1', url: 'http://127.0.0.1:8001' }]);
    await registry.register({ id: 'w2', service: 'web', address: '127.0.0.1', port: 8002, checks: [{ id: 'w2-ttl', ttlMs: 60_000 }] });
    await new Promise((r) => setTimeout(r, 10));
    expect(b.endpoints.map((e) => e.id)).toEqual(['w1']); // w2 is critical until it passes
    await registry.pass('w2-ttl');
    await new Promise((r) => setTimeout(r, 10));
    expect(b.endpoints.map((e) => e.id).sort()).toEqual(['w1', 'w2']);
    b.close();
    await registry.close();
  });

  it('fails static: when the registry calls every instance unhealthy at once, it keeps the last healthy set until one is healthy again', async () => {
    const registry = new EmbeddedRegistry();
    await registry.register({ id: 'w1', service: 'web', address: '127.0.0.1', port: 8001, checks: [{ id: 'w1-ttl', ttlMs: 60_000 }] });
    await registry.register({ id: 'w2', service: 'web', address: '127.0.0.1', port: 8002, checks: [{ id: 'w2-ttl', ttlMs: 60_000 }] });
    await registry.pass('w1-ttl');
    await registry.pass('w2-ttl');
    const b = new Balancer({ registry, service: 'web' });
    await b.whenReady();
    await expect.poll(() => b.endpoints.map((e) => e.id).sort()).toEqual(['w1', 'w2']);
    await registry.fail('w1-ttl');
    await expect.poll(() => b.endpoints.map((e) => e.id)).toEqual(['w2']); // one left: followed as usual
    expect(b.failStatic).toBe(false);
    await registry.fail('w2-ttl');
    await expect.poll(() => b.failStatic).toBe(true);
    expect(b.endpoints.map((e) => e.id)).toEqual(['w2']); // none healthy: the last healthy set stays
    expect(b.preferenceList()).toHaveLength(1);
    await registry.pass('w1-ttl');
    await expect.poll(() => b.endpoints.map((e) => e.id)).toEqual(['w1']);
    expect(b.failStatic).toBe(false);
    b.close();
    await registry.close();
  });

  it('rejects bad options, naming the option', () => {
    expect(() => new Balancer({ instances: ['ftp://x'] })).toThrow(/must be http:\/\/ or https:\/\//);
    expect(() => new Balancer({ instances: urls, strategy: 'random' as never })).toThrow(/strategy must be one of/);
    expect(() => new Balancer({})).toThrow(/give either instances or registry \+ service/);
  });
});

describe('FailoverClient against real HTTP servers', () => {
  const servers: http.Server[] = [];
  const received: Record<string, number> = {};
  let ok: string;
  let sick: string;
  let refused: string;
  beforeAll(async () => {
    const make = async (name: string, status: number): Promise<string> => {
      const s = http.createServer((req, res) => {
        received[`${name} ${req.method}`] = (received[`${name} ${req.method}`] ?? 0) + 1;
        req.resume();
        req.on('end', () => res.writeHead(status).end(name));
      });
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      servers.push(s);
      return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    };
    ok = await make('ok', 200);
    sick = await make('sick', 503);
    refused = `http://127.0.0.1:${await freePort()}`;
  });
  afterAll(() => servers.forEach((s) => s.close()));

  it('sends an idempotent request on to the next endpoint after a 503 or a refused connection', async () => {
    const balancer = new Balancer({ instances: [sick, refused, ok], strategy: 'round-robin' });
    const client = createFailoverClient({ balancer });
    const res = await client.request({ path: '/x' });
    expect(res.statusCode).toBe(200);
    expect(res.body.toString()).toBe('ok');
    expect(res.attempts.map((a) => a.outcome)).toEqual(['http-error', 'connect-refused', 'ok']);
    await client.close();
  });

  it('never sends a non-idempotent request twice, except when the connection was refused (it never left)', async () => {
    const before = received['sick POST'] ?? 0;
    const client = createFailoverClient({ balancer: new Balancer({ instances: [sick, ok], strategy: 'round-robin' }) });
    const res = await client.request({ path: '/orders', method: 'POST', body: '{}' });
    expect(res.statusCode).toBe(503);
    expect(received['sick POST']).toBe(before + 1);
    expect(received['ok POST'] ?? 0).toBe(0);
    const client2 = createFailoverClient({ balancer: new Balancer({ instances: [refused, ok], strategy: 'round-robin' }) });
    const res2 = await client2.request({ path: '/orders', method: 'POST', body: '{}' });
    expect(res2.statusCode).toBe(200);
    await client.close();
    await client2.close();
  });

  it('stops retrying when the retry budget is spent', async () => {
    const client = createFailoverClient({ balancer: new Balancer({ instances: [sick, ok], strategy: 'round-robin' }), retryBudget: { ratio: 0, minPerSec: 0 } });
    const events: string[] = [];
    client.on('budgetExhausted', () => events.push('exhausted'));
    const res = await client.request({ path: '/x' });
    expect(res.statusCode).toBe(503);
    expect(events).toEqual(['exhausted']);
    await client.close();
  });

  it('fails with a clear error listing every attempt when no endpoint answers', async () => {
    const client = createFailoverClient({ balancer: new Balancer({ instances: [refused] }) });
    const err = await client.request({ path: '/x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamUnavailableError);
    expect((err as Error).message).toMatch(/no upstream could answer; tried .*connect-refused/);
    await client.close();
  });

  it('hedges a slow request to the next endpoint after hedgeAfterMs', async () => {
    const slow = http.createServer((_q, res) => setTimeout(() => res.writeHead(200).end('slow'), 2000));
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
    const client = createFailoverClient({ balancer: new Balancer({ instances: [slowUrl, ok], strategy: 'round-robin' }), hedgeAfterMs: 50, perTryTimeoutMs: 5000 });
    const res = await client.request({ path: '/x' });
    expect(res.body.toString()).toBe('ok');
    await client.close();
    slow.closeAllConnections();
    slow.close();
  });
});
