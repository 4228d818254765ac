#!/usr/bin/env node
// Capacity: the highest offered rate at which a system, without faults, keeps p99 ≤ 50 ms and
// answers ≥ 99.99 % — for the steadfast demo (db ×3, web ×3, gateways ×2, registry, each its own
// process) and, in the same run, a bare chain with the same hops and none of the fault tolerance:
// two plain proxies (round robin over the web processes), three plain web handlers (a write to
// both of a key's two owners, a read from both), three plain key-value processes that append
// every write to the same FileJournal (sync 'always') before answering. The same open-loop
// LoadGenerator, the same mix (30 % writes over 200 carts, seeded), the same 4 s warm-up, on the
// same two cores. Rates go up in the order given, the two systems alternating per rate; a system
// stops at its first rate that misses either bound. The bare chain forks this file for its processes.
// Usage: npm run bench:capacity [-- --seconds 10 --rates 500,750,1000,1250,1500,2000,2500]
import { fork } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const role = process.env.BARE_ROLE;

function hash(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function listenAndTell(server) {
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  process.send({ port: server.address().port });
}

if (role === 'db') {
  // A plain key-value process: key → item id → item, every write journaled (fsync) before the answer.
  const { FileJournal } = await import('../dist/recovery/index.js');
  const journal = await FileJournal.open({ dir: process.env.BARE_DIR });
  const data = new Map();
  const server = http.createServer(async (req, res) => {
    const [, kind, key, id] = req.url.split('/');
    if (kind !== 'kv' || !key) return json(res, 404, { error: 'no route' });
    if (req.method === 'PUT' && id) {
      const item = JSON.parse((await readBody(req)).toString());
      await journal.append({ key, id, item });
      let items = data.get(key);
      if (!items) data.set(key, (items = {}));
      items[id] = item;
      return json(res, 200, { ok: true });
    }
    json(res, 200, data.get(key) ?? {});
  });
  server.keepAliveTimeout = 10_000;
  await listenAndTell(server);
} else if (role === 'web') {
  // A plain web handler: the key's two owners on a fixed hash, both written, both read.
  const dbs = JSON.parse(process.env.BARE_DBS);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const call = (port, method, p, body) =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path: p, agent, headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
        readBody(res).then((b) => resolve({ status: res.statusCode, body: b }), reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  const server = http.createServer(async (req, res) => {
    try {
      const parts = req.url.split('/').filter(Boolean);
      if (parts[0] !== 'api' || parts[1] !== 'carts' || !parts[2]) return json(res, 404, { error: 'no route' });
      const cart = parts[2];
      const h = hash(cart);
      const owners = [dbs[h % dbs.length], dbs[(h + 1) % dbs.length]];
      if (req.method === 'PUT' && parts[3] === 'items' && parts[4]) {
        const body = (await readBody(req)).toString();
        JSON.parse(body);
        const answers = await Promise.all(owners.map((p) => call(p, 'PUT', `/kv/${cart}/${parts[4]}`, body)));
        return json(res, answers.every((a) => a.status === 200) ? 200 : 502, { ok: true });
      }
      const answers = await Promise.all(owners.map((p) => call(p, 'GET', `/kv/${cart}`)));
      const items = Object.assign({}, ...answers.map((a) => JSON.parse(a.body.toString())));
      json(res, 200, { cart, items });
    } catch (err) {
      json(res, 500, { error: String(err) });
    }
  });
  server.keepAliveTimeout = 10_000;
  await listenAndTell(server);
} else if (role === 'proxy') {
  // A plain reverse proxy: round robin over the web processes, no retries, no health.
  const webs = JSON.parse(process.env.BARE_WEBS);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  let turn = 0;
  const server = http.createServer((req, res) => {
    const port = webs[turn++ % webs.length];
    const up = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers, agent }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) json(res, 502, { error: 'upstream failed' });
      else res.destroy();
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 10_000;
  await listenAndTell(server);
} else {
  await main();
}

async function main() {
  const args = process.argv.slice(2);
  const flag = (name, dflt) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : dflt);
  const seconds = Number(flag('seconds', 10));
  const rates = flag('rates', '500,750,1000,1250,1500,2000,2500').split(',').map(Number);
  for (const [name, v] of [['seconds', seconds], ...rates.map((r) => ['rates', r])]) {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`bench:capacity: --${name} must be a positive number, got ${v}`);
  }
  const { runDemo } = await import('../dist/demo/system.js');
  const { LoadGenerator } = await import('../dist/chaos/index.js');
  const { seededRandom, nearestRank } = await import('../dist/core/index.js');
  const P99_MS = 50;
  const ANSWERED = 0.9999;

  const start = (env) =>
    new Promise((resolve, reject) => {
      const child = fork(self, [], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.once('message', (m) => resolve({ child, port: m.port }));
      child.once('exit', (code) => reject(new Error(`bare ${env.BARE_ROLE} exited ${code}`)));
    });

  // CPU time (user + system) of a process, ms, from /proc (clock ticks of 10 ms).
  const cpuMsOf = (pid) => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  };
  const ownCpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };

  const mix = (seed, prefix) => {
    const random = seededRandom(seed);
    return (seq) => {
      const cart = `${prefix}${Math.floor(random() * 200)}`;
      if (random() < 0.3) return { method: 'PUT', path: `/api/carts/${cart}/items/w${seq}`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sku: `sku-${Math.floor(random() * 1000)}`, qty: 1 + Math.floor(random() * 5) }) };
      return { method: 'GET', path: `/api/carts/${cart}` };
    };
  };

  async function bareCell(rate) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-bare-'));
    const children = [];
    try {
      const dbs = [];
      for (let i = 0; i < 3; i++) {
        const d = await start({ BARE_ROLE: 'db', BARE_DIR: path.join(dir, `db-${i}`) });
        children.push(d.child);
        dbs.push(d.port);
      }
      const webs = [];
      for (let i = 0; i < 3; i++) {
        const w = await start({ BARE_ROLE: 'web', BARE_DBS: JSON.stringify(dbs) });
        children.push(w.child);
        webs.push(w.port);
      }
      const proxies = [];
      for (let i = 0; i < 2; i++) {
        const p = await start({ BARE_ROLE: 'proxy', BARE_WEBS: JSON.stringify(webs) });
        children.push(p.child);
        proxies.push(`http://127.0.0.1:${p.port}`);
      }
      const latencies = [];
      let ok = 0;
      const load = new LoadGenerator({ url: proxies, ratePerSec: rate, durationMs: seconds * 1000, timeoutMs: 5000, next: mix(7, 'c'), warmUp: { durationMs: 4000, next: mix(8, 'warm-') } });
      load.on('result', (r) => {
        latencies.push(r.latencyMs);
        if (r.ok) ok++;
      });
      // CPU per tier over the measured phase (after the warm-up), as the demo reports its own.
      const tiers = { db: children.slice(0, 3), web: children.slice(3, 6), gateway: children.slice(6) };
      const sample = () => ({ ...Object.fromEntries(Object.entries(tiers).map(([k, cs]) => [k, cs.reduce((n, c) => n + cpuMsOf(c.pid), 0)])), client: ownCpuMs() });
      let before;
      load.on('started', () => (before = sample()));
      const s = await load.run();
      const after = sample();
      latencies.sort((a, b) => a - b);
      const cpu = before ? Object.fromEntries(Object.keys(after).map((k) => [k, (after[k] - before[k]) / Math.max(1, s.sent)])) : undefined;
      return { requests: s.sent, answered: s.sent ? ok / s.sent : 1, p99: nearestRank(latencies, 99), goodput: ok / (s.durationMs / 1000), cpu };
    } finally {
      for (const c of children) c.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async function demoCell(rate) {
    const r = await runDemo({ durationMs: seconds * 1000, ratePerSec: rate, seed: 7, chaos: false });
    const per = (u) => u?.perRequestMs ?? undefined;
    const cpu = { db: per(r.cpu.db), web: per(r.cpu.web), gateway: per(r.cpu.gateway), registry: per(r.cpu.registry), supervisor: per(r.cpu.supervisor), client: per(r.cpu.client) };
    return { requests: r.report.requests, answered: r.report.requestAvailability, p99: r.report.latencyMs.p99, goodput: r.load.goodputPerSec, lost: r.lostWrites, cpu };
  }

  const systems = [
    { name: 'steadfast demo', cell: demoCell, capacity: 0, done: false },
    { name: 'bare chain', cell: bareCell, capacity: 0, done: false },
  ];
  const rows = [];
  for (const [k, rate] of rates.entries()) {
    // Alternate which system goes first at each rate, so neither always runs on a warmer machine.
    for (const sys of k % 2 === 0 ? systems : [...systems].reverse()) {
      if (sys.done) continue;
      process.stderr.write(`\r${`bench:capacity ${sys.name} at ${rate} req/s`.padEnd(60)}`);
      // The cell before has stopped its processes and removed its data: let the machine settle.
      await new Promise((r) => setTimeout(r, 3000));
      const c = await sys.cell(rate);
      const holds = c.p99 <= P99_MS && c.answered >= ANSWERED;
      if (holds) sys.capacity = rate;
      else sys.done = true;
      rows.push({ system: sys.name, rate, ...c, holds });
    }
    if (systems.every((s) => s.done)) break;
  }
  process.stderr.write(`\r${''.padEnd(60)}\r`);
  const f = (x, d = 1) => (x === undefined || x === null || Number.isNaN(x) ? '—' : x.toFixed(d));
  console.log(`Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0].model.trim()}; every process on these cores; ${seconds} s of open-loop load per cell after a 4 s warm-up, no faults; bounds: p99 ≤ ${P99_MS} ms and ≥ ${ANSWERED * 100} % answered (2xx).`);
  console.log(`Command: npm run bench:capacity${args.length ? ` -- ${args.join(' ')}` : ''}\n`);
  console.log('| system | offered req/s | requests | answered | p99 ms | goodput req/s | within bounds |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of rows) console.log(`| ${r.system} | ${r.rate} | ${r.requests} | ${(r.answered * 100).toFixed(3)} % | ${f(r.p99)} | ${f(r.goodput, 0)} | ${r.holds ? 'yes' : 'no'} |`);
  console.log('\nCPU per request (ms of CPU, user + system, over the measured phase), by tier — where the time goes:\n');
  console.log('| system | offered req/s | db | web | gateway / proxy | registry | supervisor | client | total |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    if (!r.cpu) continue;
    const parts = ['db', 'web', 'gateway', 'registry', 'supervisor', 'client'].map((k) => r.cpu[k]);
    const total = parts.reduce((n, x) => n + (x ?? 0), 0);
    console.log(`| ${r.system} | ${r.rate} | ${parts.map((x) => f(x, 3)).join(' | ')} | ${f(total, 3)} |`);
  }
  const [demo, bare] = systems;
  const top = (s) => (s.done ? `${s.capacity || `< ${rates[0]}`} req/s` : `≥ ${s.capacity} req/s (the highest rate tried)`);
  const ratio = !bare.capacity ? '—' : demo.capacity ? `${(demo.capacity / bare.capacity).toFixed(2)}×${demo.done && bare.done ? '' : ' (a bound: a system held at the highest rate tried)'}` : `< ${(rates[0] / bare.capacity).toFixed(2)}×`;
  console.log(`\nCapacity: steadfast demo ${top(demo)}, bare chain ${top(bare)}; ratio ${ratio} (target ≥ 0.7×).`);
}
