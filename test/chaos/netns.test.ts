import { execFile, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetworkHosts, networkHostsMissing } from '../../src/chaos/netns.js';
import { InvalidOptionError, OptionRangeError } from '../../src/core/errors.js';
import { ManualClock } from '../../src/core/clock.js';

const missing = networkHostsMissing();
if (missing && process.env.CI) throw new Error(`network namespaces cannot be made here: ${missing} (.ci/run runs as root and installs iptables)`);
if (missing) console.warn(`skipping the network-namespace tests: ${missing}`);

// A TCP server that answers "pong" on port 7000, and a UDP one on 7001 that counts datagrams
// and prints the count when asked over TCP on 7002.
const SERVER = `
const net = require('net'); const dgram = require('dgram'); let n = 0;
net.createServer((s) => s.end('pong')).listen(7000, '0.0.0.0', () => {
  const u = dgram.createSocket('udp4'); u.on('message', () => n++);
  u.bind(7001, '0.0.0.0', () => net.createServer((s) => s.end(String(n))).listen(7002, '0.0.0.0', () => console.log('up')));
});`;

/** From inside `from`, a TCP connect to `address`:`port`: what it read, or how it failed (1.5 s). */
function probe(hosts: NetworkHosts, from: string, address: string, port = 7000): Promise<string> {
  const code = `const s = require('net').connect(${port}, '${address}'); s.setTimeout(1500, () => { console.log('timeout'); process.exit(0); }); let d = ''; s.on('data', (c) => (d += c)); s.on('end', () => { console.log(d); process.exit(0); }); s.on('error', (e) => { console.log(e.code); process.exit(0); });`;
  const [cmd, ...args] = hosts.command(from, [process.execPath, '-e', code]);
  return new Promise((resolve, reject) => execFile(cmd!, args, (err, out) => (err ? reject(err) : resolve(out.trim()))));
}

/** From inside `from`, `count` UDP datagrams to `address`:7001, 1 ms apart. */
function sendUdp(hosts: NetworkHosts, from: string, address: string, count: number): Promise<void> {
  const code = `const u = require('dgram').createSocket('udp4'); let i = 0; const t = setInterval(() => { u.send('x', 7001, '${address}'); if (++i === ${count}) { clearInterval(t); setTimeout(() => process.exit(0), 50); } }, 1);`;
  const [cmd, ...args] = hosts.command(from, [process.execPath, '-e', code]);
  return new Promise((resolve, reject) => execFile(cmd!, args, (err) => (err ? reject(err) : resolve())));
}

/** The UDP count of the server at `address`, read from the root namespace. */
function udpCount(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let d = '';
    const s = net.connect(7002, address);
    s.setTimeout(2000, () => reject(new Error(`no answer from ${address}:7002`)));
    s.on('data', (c) => (d += c));
    s.on('end', () => resolve(Number(d)));
    s.on('error', reject);
  });
}

/**
 * The count once it stops moving (two reads 100 ms apart agree): datagrams already delivered may
 * still wait in the server's socket buffer when a busy machine schedules it late.
 */
async function settledCount(address: string): Promise<number> {
  let last = await udpCount(address);
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await udpCount(address);
    if (now === last) return now;
    last = now;
  }
}

describe.runIf(!missing)('NetworkHosts: hosts as network namespaces on a bridge, and the cuts between them', () => {
  let hosts: NetworkHosts;
  const servers: ChildProcess[] = [];

  beforeAll(async () => {
    hosts = await NetworkHosts.create({ hosts: ['a', 'b', 'c'] });
    for (const h of ['a', 'b', 'c']) {
      const s = hosts.spawn(h, process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
      servers.push(s);
      await new Promise((r) => s.stdout!.once('data', r));
    }
  }, 30_000);

  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await hosts?.destroy();
  });

  const addr = (h: string): string => hosts.host(h).address;

  it('gives every host its own address, reachable from the others and from the root namespace', async () => {
    expect(new Set(hosts.hosts.map((h) => h.address)).size).toBe(3);
    expect(await probe(hosts, 'a', addr('b'))).toBe('pong');
    expect(await probe(hosts, 'b', addr('c'))).toBe('pong');
    expect(await settledCount(addr('a'))).toBe(0);
  });

  it('isolate: the host is cut from every other host, the root namespace still reaches it, and heal() restores it', async () => {
    await hosts.partition({ isolate: 'b' });
    try {
      expect(await probe(hosts, 'a', addr('b'))).toBe('timeout');
      expect(await probe(hosts, 'b', addr('c'))).toBe('timeout');
      expect(await probe(hosts, 'a', addr('c'))).toBe('pong');
      expect(await settledCount(addr('b'))).toBeGreaterThanOrEqual(0); // the supervisor's view survives the cut
      expect(await probe(hosts, 'a', hosts.gateway, 7003)).not.toBe('timeout'); // and the root's address is not cut (refused: nothing listens)
    } finally {
      await hosts.heal();
    }
    expect(await probe(hosts, 'a', addr('b'))).toBe('pong');
    expect(await probe(hosts, 'c', addr('b'))).toBe('pong');
  });

  it('groups: a bridge host that sees both halves, while the halves do not see each other', async () => {
    await hosts.partition({ groups: [['a', 'b'], ['b', 'c']] });
    try {
      expect(await probe(hosts, 'a', addr('b'))).toBe('pong');
      expect(await probe(hosts, 'c', addr('b'))).toBe('pong');
      expect(await probe(hosts, 'a', addr('c'))).toBe('timeout');
      expect(await probe(hosts, 'c', addr('a'))).toBe('timeout');
    } finally {
      await hosts.heal();
    }
    expect(await probe(hosts, 'a', addr('c'))).toBe('pong');
  });

  it('one way: datagrams from a are dropped at b, while b’s still reach a', async () => {
    const [a0, b0] = [await settledCount(addr('a')), await settledCount(addr('b'))];
    await hosts.partition({ from: ['a'], to: ['b'] });
    try {
      await sendUdp(hosts, 'a', addr('b'), 50);
      await sendUdp(hosts, 'b', addr('a'), 50);
      expect(await settledCount(addr('b'))).toBe(b0);
      expect(await settledCount(addr('a'))).toBe(a0 + 50);
    } finally {
      await hosts.heal();
    }
    await sendUdp(hosts, 'a', addr('b'), 10);
    expect(await settledCount(addr('b'))).toBe(b0 + 10);
  });

  it('loss: about the given share of a host’s packets is dropped, and none after heal(); the root namespace’s are spared', async () => {
    const c0 = await settledCount(addr('c'));
    await hosts.loss('c', 0.5);
    try {
      await sendUdp(hosts, 'a', addr('c'), 400);
      // Binomial(400, 0.5): mean 200, sd 10 — these bounds are ±8 sd.
      const got = (await settledCount(addr('c'))) - c0;
      expect(got).toBeGreaterThan(120);
      expect(got).toBeLessThan(280);
      // 20 connections from the root namespace through the lossy host: every one answered.
      for (let i = 0; i < 20; i++) expect(await udpCount(addr('c'))).toBe(c0 + got);
    } finally {
      await hosts.heal();
    }
    const c1 = await settledCount(addr('c'));
    await sendUdp(hosts, 'a', addr('c'), 100);
    expect((await settledCount(addr('c'))) - c1).toBe(100);
  });

  it('flap: the host’s link goes down and up on the clock, and stop() leaves it up', async () => {
    const clock = new ManualClock();
    const f = hosts.flap('b', { upMs: 1000, downMs: 2000, clock });
    try {
      await f.settled();
      expect(await probe(hosts, 'a', addr('b'))).not.toBe('pong');
      clock.advance(1999);
      await f.settled();
      expect(await probe(hosts, 'a', addr('b'))).not.toBe('pong');
      clock.advance(1);
      await f.settled();
      expect(await probe(hosts, 'a', addr('b'))).toBe('pong');
      clock.advance(1000);
      await f.settled();
      expect(await probe(hosts, 'c', addr('b'))).not.toBe('pong');
    } finally {
      await f.stop();
    }
    expect(clock.pending).toBe(0);
    expect(await probe(hosts, 'a', addr('b'))).toBe('pong');
  });

  it('delay: packets wait as asked where the kernel has netem, and say why not where it has not', async () => {
    try {
      await hosts.delay('c', 200);
    } catch (err) {
      expect((err as Error).message).toMatch(/no netem qdisc \(module sch_netem\).*FaultProxy latency toxic/);
      return;
    }
    try {
      const t0 = performance.now();
      expect(await probe(hosts, 'a', addr('c'))).toBe('pong');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(200); // the SYN-ACK and the answer each waited
    } finally {
      await hosts.heal();
    }
  });

  it('refuses unknown hosts and bad ratios, naming them', async () => {
    await expect(hosts.partition({ isolate: 'z' })).rejects.toThrow(/no host "z" \(hosts: a, b, c\)/);
    await expect(hosts.loss('a', 0)).rejects.toThrow(OptionRangeError);
    await expect(hosts.partition({ groups: [['a']] })).rejects.toThrow(/two or more/);
  });
});

describe.runIf(!missing)('NetworkHosts: nothing left behind', () => {
  const listNs = (): Promise<string> => new Promise((r) => execFile('ip', ['netns', 'list'], (_e, out) => r(String(out))));
  const listLinks = (): Promise<string> => new Promise((r) => execFile('ip', ['-o', 'link', 'show'], (_e, out) => r(String(out))));

  it('destroy() removes every namespace and link it made', async () => {
    const h = await NetworkHosts.create({ hosts: ['x', 'y'] });
    expect(await listNs()).toContain(h.host('x').namespace);
    await h.destroy();
    await h.destroy(); // idempotent
    expect(await listNs()).not.toContain(`steadfast-${process.pid}-x`);
    expect(await listLinks()).not.toMatch(new RegExp(`sf${process.pid}(br|h\\d)`));
  }, 30_000);

  it('the start-up sweep removes what a run whose process is gone left (a supervisor killed with SIGKILL)', async () => {
    const child = spawn(process.execPath, ['-e', '0']);
    const dead = child.pid!;
    await new Promise((r) => child.once('exit', r));
    await NetworkHosts.create({ hosts: ['p', 'q'], owner: dead, subnet: '10.250.250' }); // never destroyed
    expect(await listNs()).toContain(`steadfast-${dead}-p`);
    const removed = await NetworkHosts.sweep();
    expect(removed).toEqual(expect.arrayContaining([`steadfast-${dead}-p`, `steadfast-${dead}-q`, `sf${dead}br`]));
    expect(await listNs()).not.toContain(`steadfast-${dead}-`);
    expect(await listLinks()).not.toContain(`sf${dead}br`);
  }, 30_000);
});

describe('NetworkHosts.create: bad options', () => {
  it('names the option and what it accepts', async () => {
    await expect(NetworkHosts.create({ hosts: [] })).rejects.toThrow(InvalidOptionError);
    await expect(NetworkHosts.create({ hosts: ['a b'] })).rejects.toThrow(/1–20 letters, digits or '-'/);
    await expect(NetworkHosts.create({ hosts: ['a', 'a'] })).rejects.toThrow(/unique/);
    await expect(NetworkHosts.create({ hosts: ['a'], subnet: '10.1' })).rejects.toThrow(/first three octets/);
    await expect(NetworkHosts.create({ hosts: ['a'], colour: 'red' } as never)).rejects.toThrow(/colour/);
  });
});
