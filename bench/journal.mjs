#!/usr/bin/env node
// The write-ahead journal against raw baselines doing the same work, in one run:
//   FileJournal (sync 'always', group commit)  vs  write + fdatasync per record (same folder, same bytes)
//   RedisJournal                               vs  raw ioredis XADD (same redis-server, appendfsync always)
// durable appends/s of ~100-byte records at concurrency 1, 16 and 256 (interleaved rounds, medians);
// replay of 1 M records vs reading and parsing the same records as NDJSON; and the demo's db node
// (a real `steadfast demo-node` process) CPU per acknowledged write at 1,000 and 100,000 stored
// items — with --baseline-dist DIR, also that build's db node (before the journal: a whole-data
// checkpoint per write).
// Usage: npm run bench:journal [-- --seconds 2 --rounds 3 --replay 1000000 --baseline-dist ../other/dist --only appends|replay|db]
import { spawn } from 'node:child_process';
import fs, { promises as fsp, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { EmbeddedRegistry, FileJournal, RedisJournal, RegistryServer, freePort } from '../dist/index.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const seconds = Number(flag('seconds', 2));
const rounds = Number(flag('rounds', 3));
const replayCount = Number(flag('replay', 1_000_000));
const baselineDist = flag('baseline-dist', undefined);
/** --only appends|replay|db: one section (for working on it); the table is whole only without it. */
const only = flag('only', undefined);
const here = path.dirname(fileURLToPath(import.meta.url));
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const progress = (s) => process.stderr.write(`\r${s.padEnd(90)}`);

/** A ~100-byte record (its JSON is 100 bytes). */
const record = (i) => ({ i, pad: 'x'.repeat(100 - 16 - String(i).length) });

/** `concurrency` loops each awaiting `op` back to back for `seconds`; returns ops per second. */
async function rate(concurrency, op) {
  const until = performance.now() + seconds * 1000;
  let n = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) await op(n++);
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

const write = (fd, buf, pos) => new Promise((res, rej) => fs.write(fd, buf, 0, buf.length, pos, (e) => (e ? rej(e) : res())));
const fdatasync = (fd) => new Promise((res, rej) => fs.fdatasync(fd, (e) => (e ? rej(e) : res())));

async function startRedis(tmp) {
  const port = await freePort();
  const dir = path.join(tmp, 'redis');
  await fsp.mkdir(dir);
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'], { stdio: 'ignore' });
  const raw = new Redis({ port, host: '127.0.0.1' }).on('error', () => {}); // refused until redis-server listens
  for (let i = 0; i < 100; i++) {
    try {
      await raw.ping();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { url: `redis://127.0.0.1:${port}`, raw, stop: async () => (raw.disconnect(), proc.kill('SIGKILL')) };
}

/** Durable appends/s, ours and the raw baseline's, for each concurrency: interleaved rounds, medians. */
async function appends(tmp, redis) {
  const rows = [];
  for (const c of [1, 16, 256]) {
    const got = { file: [], raw: [], redis: [], xadd: [] };
    for (let round = 0; round < rounds; round++) {
      progress(`bench:journal appends, concurrency ${c}, round ${round + 1}/${rounds}`);
      const file = async () => {
        const j = await FileJournal.open({ dir: path.join(tmp, `fj-${c}-${round}`) });
        got.file.push(await rate(c, (i) => j.append(record(i))));
        await j.close();
      };
      // The raw baseline: each record written and fdatasynced on its own (what a store without group commit does).
      const raw = async () => {
        const fd = fs.openSync(path.join(tmp, `raw-${c}-${round}`), 'w');
        let pos = 0;
        got.raw.push(
          await rate(c, async (i) => {
            const buf = Buffer.from(`${JSON.stringify(record(i))}\n`);
            const at = pos;
            pos += buf.length;
            await write(fd, buf, at);
            await fdatasync(fd);
          }),
        );
        fs.closeSync(fd);
      };
      const journal = async () => {
        const rj = await RedisJournal.open({ url: redis.url, name: `bench-${c}-${round}` });
        got.redis.push(await rate(c, (i) => rj.append(record(i))));
        await rj.close();
      };
      const xadd = async () => got.xadd.push(await rate(c, (i) => redis.raw.xadd(`raw-${c}-${round}`, '*', 'd', JSON.stringify(record(i)))));
      // Rounds alternate which side goes first: the disk and Redis are not equally fresh for both.
      for (const run of round % 2 === 0 ? [file, raw, journal, xadd] : [raw, file, xadd, journal]) await run();
    }
    rows.push({ c, ...Object.fromEntries(Object.entries(got).map(([k, v]) => [k, median(v)])) });
  }
  return rows;
}

/** Replay of `n` records: FileJournal.read against reading the same records as NDJSON and parsing each line. */
async function replay(tmp) {
  const dir = path.join(tmp, 'replay');
  const j = await FileJournal.open({ dir, sync: 'none' });
  const batch = [];
  for (let i = 1; i <= replayCount; i++) {
    batch.push(j.append(record(i)));
    if (batch.length === 10_000) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  await j.close();
  const ndjson = path.join(tmp, 'replay.ndjson');
  const out = fs.createWriteStream(ndjson);
  for (let i = 1; i <= replayCount; i++) if (!out.write(`${JSON.stringify(record(i))}\n`)) await new Promise((r) => out.once('drain', r));
  await new Promise((r) => out.end(r));
  const ours = [];
  const raw = [];
  for (let round = 0; round < rounds; round++) {
    progress(`bench:journal replay of ${replayCount} records, round ${round + 1}/${rounds}`);
    let t = performance.now();
    const jr = await FileJournal.open({ dir });
    let n = 0;
    let sum = 0;
    for await (const r of jr.read()) {
      n++;
      sum += r.value.i;
    }
    await jr.close();
    ours.push((performance.now() - t) / 1000);
    if (n !== replayCount || sum !== (replayCount * (replayCount + 1)) / 2) throw new Error(`replay read ${n} records`);
    t = performance.now();
    const text = await fsp.readFile(ndjson, 'utf8');
    let m = 0;
    for (const line of text.split('\n')) if (line) m += JSON.parse(line).i > 0 ? 1 : 0;
    raw.push((performance.now() - t) / 1000);
    if (m !== replayCount) throw new Error('ndjson read short');
  }
  return { ours: median(ours), raw: median(raw) };
}

const cpuMs = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, in clock ticks of 10 ms
};

/** A real db node process (`steadfast demo-node`) of the build in `dist`, preloaded with `items` items; CPU ms per acknowledged write. */
async function dbCpuPerWrite(dist, tmp, items, registryUrl) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmp, 'db-'));
  const secret = 'bench-secret';
  const cfg = { role: 'db', id: 'db-1', port, dbNodes: [{ id: 'db-1', url: `http://127.0.0.1:${port}` }], replicas: 1, writeQuorum: 1, registry: { kind: 'consul', url: registryUrl }, store: { kind: 'file', dir }, ttlMs: 5000, heartbeatMs: 1000, electionTtlMs: 1000, dbTimeoutMs: 2000, secret };
  const child = spawn(process.execPath, [path.join(dist, 'cli/index.js'), 'demo-node'], { env: { ...process.env, STEADFAST_DEMO_NODE: JSON.stringify(cfg) }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  child.stdout.resume();
  const base = `http://127.0.0.1:${port}`;
  const auth = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
  try {
    for (let i = 0; ; i++) {
      const r = await request(`${base}/health`).catch(() => undefined);
      const ok = r?.statusCode === 200;
      await r?.body.dump();
      if (ok) break;
      if (i > 400) throw new Error('db node did not become ready');
      await new Promise((res) => setTimeout(res, 50));
    }
    // Preload: `items` items over 1000 keys, in /merge batches of 5000.
    for (let from = 0; from < items; from += 5000) {
      const entries = {};
      for (let i = from; i < Math.min(items, from + 5000); i++) (entries[`k${i % 1000}`] ??= {})[`p${i}`] = { sku: `sku-${i % 97}`, qty: 1 + (i % 5) };
      const r = await request(`${base}/merge`, { method: 'POST', headers: auth, body: JSON.stringify({ entries }) });
      await r.body.dump();
    }
    await new Promise((r) => setTimeout(r, 500));
    const writes = 2000;
    const before = cpuMs(child.pid);
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < writes) {
          const n = next++;
          const r = await request(`${base}/kv/k${n % 1000}/w${n}`, { method: 'PUT', headers: auth, body: JSON.stringify({ sku: 'bench', qty: 1 }) });
          await r.body.dump();
          if (r.statusCode !== 204) throw new Error(`PUT answered ${r.statusCode}`);
        }
      }),
    );
    const elapsed = (performance.now() - t0) / 1000;
    return { cpuMsPerWrite: (cpuMs(child.pid) - before) / writes, writesPerSec: writes / elapsed };
  } finally {
    child.kill('SIGKILL');
  }
}

async function dbRows(tmp) {
  const registry = new EmbeddedRegistry();
  const server = await new RegistryServer({ registry, port: 0 }).listen();
  const builds = [['steadfast db node (journal, checkpoint every 3 s)', path.join(here, '../dist')]];
  if (baselineDist) builds.push([`the build in ${baselineDist} (before: a whole-data checkpoint per write)`, path.resolve(baselineDist)]);
  const rows = [];
  try {
    for (const items of [1000, 100_000]) {
      for (const [label, dist] of builds) {
        const got = [];
        for (let round = 0; round < rounds; round++) {
          progress(`bench:journal db node, ${items} items, ${label.slice(0, 30)}, round ${round + 1}/${rounds}`);
          got.push(await dbCpuPerWrite(dist, tmp, items, server.url));
        }
        rows.push({ label, items, cpu: median(got.map((g) => g.cpuMsPerWrite)), rate: median(got.map((g) => g.writesPerSec)) });
      }
    }
  } finally {
    await server.close();
    await registry.close();
  }
  return rows;
}

async function main() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'steadfast-bench-journal-'));
  const redis = await startRedis(tmp);
  try {
    const a = !only || only === 'appends' ? await appends(tmp, redis) : [];
    const r = !only || only === 'replay' ? await replay(tmp) : { ours: NaN, raw: NaN };
    const db = !only || only === 'db' ? await dbRows(tmp) : [];
    progress('');
    process.stderr.write('\r');
    const lines = [
      `Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0].model.trim()}; ${os.tmpdir()} on this machine's disk; redis-server with appendonly yes, appendfsync always. ${rounds} interleaved rounds of ${seconds} s (alternating which side goes first), medians.`,
      `Command: npm run bench:journal${args.length ? ` -- ${args.join(' ')}` : ''}`,
      '',
      '| durable appends/s, ~100-byte records | concurrency 1 | 16 | 256 |',
      '| --- | ---: | ---: | ---: |',
      `| FileJournal (sync 'always', group commit) | ${a.map((x) => fmt(x.file)).join(' | ')} |`,
      `| write + fdatasync per record (raw) | ${a.map((x) => fmt(x.raw)).join(' | ')} |`,
      `| **× raw** | ${a.map((x) => `**${(x.file / x.raw).toFixed(2)}×**`).join(' | ')} |`,
      `| RedisJournal | ${a.map((x) => fmt(x.redis)).join(' | ')} |`,
      `| raw ioredis XADD | ${a.map((x) => fmt(x.xadd)).join(' | ')} |`,
      `| **× raw XADD** | ${a.map((x) => `**${(x.redis / x.xadd).toFixed(2)}×**`).join(' | ')} |`,
      '',
      `| replay of ${replayCount.toLocaleString('en-US')} records | seconds | records/s | × NDJSON |`,
      '| --- | ---: | ---: | ---: |',
      `| FileJournal.read (open + scan + CRC + decode) | ${r.ours.toFixed(2)} | ${fmt(replayCount / r.ours)} | ${(r.raw / r.ours).toFixed(2)}× |`,
      `| readFile + split + JSON.parse per line (no checksum) | ${r.raw.toFixed(2)} | ${fmt(replayCount / r.raw)} | 1.00× |`,
      '',
      '| demo db node (a real process), 2000 PUTs at concurrency 16 | stored items | CPU ms per write | writes/s |',
      '| --- | ---: | ---: | ---: |',
      ...db.map((d) => `| ${d.label} | ${d.items.toLocaleString('en-US')} | ${d.cpu.toFixed(3)} | ${fmt(d.rate)} |`),
    ];
    console.log(lines.join('\n'));
  } finally {
    await redis.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
