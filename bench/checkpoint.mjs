#!/usr/bin/env node
// Save and restore throughput of the checkpoint stores against raw baselines, in one run:
//   FileCheckpointStore  vs  writeFile + fsync + rename   (same folder, same fsync)
//   RedisCheckpointStore vs  raw ioredis SET / GET          (same redis-server)
// for 1 KB and 1 MB states. Starts its own redis-server (appendonly yes, appendfsync
// always — the setting under which an acknowledged checkpoint survives a crash; both
// sides pay the same fsync) on a free loopback port.
// Usage: npm run bench:checkpoint [-- --seconds 2 --rounds 5 --json out.json]
import { spawn } from 'node:child_process';
import { promises as fs, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { FileCheckpointStore, RedisCheckpointStore, freePort } from '../dist/index.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const seconds = Number(flag('seconds', 2));
const rounds = Number(flag('rounds', 5));


/** Runs `op` back to back for `seconds`; returns ops per second. */
async function rate(op) {
  const until = performance.now() + seconds * 1000;
  let n = 0;
  const t0 = performance.now();
  while (performance.now() < until) {
    await op(n++);
  }
  return n / ((performance.now() - t0) / 1000);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function main() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'steadfast-bench-ckpt-'));
  const port = await freePort();
  const redisDir = path.join(tmp, 'redis');
  await fs.mkdir(redisDir);
  const redisProc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', redisDir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'], { stdio: 'ignore' });
  const raw = new Redis({ port, host: '127.0.0.1' });
  for (let i = 0; i < 100; i++) {
    try {
      await raw.ping();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const rows = [];
  try {
    for (const [label, size] of [
      ['1 KB', 1024],
      ['1 MB', 1024 * 1024],
    ]) {
      // A JSON state of about `size` bytes.
      const state = { items: Array.from({ length: Math.max(1, Math.floor(size / 64)) }, (_, i) => ({ id: i, name: `item-${i}`, qty: i % 7, pad: 'x'.repeat(24) })) };

      const fileDir = path.join(tmp, `file-${size}`);
      const rawDir = path.join(tmp, `raw-${size}`);
      await fs.mkdir(rawDir, { recursive: true });
      const store = new FileCheckpointStore({ dir: fileDir });
      const redisStore = new RedisCheckpointStore({ redis: raw, prefix: `bench${size}:`, keep: 3 });

      const rawFileSave = async (n) => {
        const tmpFile = path.join(rawDir, `.tmp-${n}`);
        const h = await fs.open(tmpFile, 'w');
        await h.writeFile(Buffer.from(JSON.stringify(state)));
        await h.sync();
        await h.close();
        await fs.rename(tmpFile, path.join(rawDir, `${n % 3}.json`));
      };
      // The same guarantee as FileCheckpointStore: the new name itself survives a power cut.
      const rawFileSaveDurable = async (n) => {
        await rawFileSave(n);
        const d = await fs.open(rawDir, 'r');
        await d.sync();
        await d.close();
      };
      // A Buffer decoded afterwards: readFile(path, 'utf8') measured ~12 % slower at 1 MB here,
      // and a baseline slower than necessary made the store look faster than raw.
      const rawFileRestore = async () => JSON.parse((await fs.readFile(path.join(rawDir, '0.json'))).toString('utf8'));
      const fileSave = async () => {
        await store.save('bench', state);
      };
      let saves = 0;
      const fileSaveKeep = async () => {
        await fileSave();
        if (++saves % 50 === 0) await store.prune('bench', { keep: 3 });
      };
      const fileRestore = async () => store.latest('bench');
      const rawRedisSave = async (n) => {
        await raw.set(`rawbench${size}:${n % 3}`, JSON.stringify(state));
      };
      const rawRedisRestore = async () => JSON.parse(await raw.get(`rawbench${size}:0`));
      const redisSave = async () => {
        await redisStore.save('bench', state);
      };
      const redisRestore = async () => redisStore.latest('bench');

      await rawFileSave(0);
      await fileSave();
      await rawRedisSave(0);
      await redisSave();
      const m = { rawFileSave: [], rawFileSaveDurable: [], fileSave: [], rawFileRestore: [], fileRestore: [], rawRedisSave: [], redisSave: [], rawRedisRestore: [], redisRestore: [] };
      // Each steadfast operation and its baseline in turn; odd rounds run steadfast first, so
      // neither side always gets the warmer moment (page cache, JIT, GC debt of the one before).
      const pairs = [
        [['rawFileSave', rawFileSave], ['rawFileSaveDurable', rawFileSaveDurable], ['fileSave', fileSaveKeep]],
        [['rawFileRestore', rawFileRestore], ['fileRestore', fileRestore]],
        [['rawRedisSave', rawRedisSave], ['redisSave', redisSave]],
        [['rawRedisRestore', rawRedisRestore], ['redisRestore', redisRestore]],
      ];
      for (let r = 0; r < rounds; r++) {
        process.stderr.write(`\rbench:checkpoint ${label} round ${r + 1}/${rounds} …   `);
        for (const group of pairs) {
          for (const [name, op] of r % 2 === 0 ? group : [...group].reverse()) m[name].push(await rate(op));
        }
      }
      const med = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, median(v)]));
      rows.push([`${label} save`, 'file', med.fileSave, 'writeFile + fsync + rename', med.rawFileSave]);
      rows.push([`${label} save`, 'file', med.fileSave, 'writeFile + fsync + rename + fsync(folder)', med.rawFileSaveDurable]);
      rows.push([`${label} restore`, 'file', med.fileRestore, 'readFile + toString + JSON.parse', med.rawFileRestore]);
      rows.push([`${label} save`, 'redis', med.redisSave, 'ioredis SET', med.rawRedisSave]);
      rows.push([`${label} restore`, 'redis', med.redisRestore, 'ioredis GET + JSON.parse', med.rawRedisRestore]);
      await store.close();
      await redisStore.close();
    }
  } finally {
    process.stderr.write('\n');
    raw.disconnect();
    redisProc.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
  const lines = [
    `Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; ${rounds} interleaved rounds of ${seconds} s each (order alternating), medians; Redis with appendfsync always.`,
    `Command: npm run bench:checkpoint -- --seconds ${seconds} --rounds ${rounds}`,
    '',
    '| operation | store | steadfast ops/s | baseline | baseline ops/s | steadfast ÷ baseline |',
    '| --- | --- | ---: | --- | ---: | ---: |',
    ...rows.map(([op, store, ours, base, theirs]) => `| ${op} | ${store} | ${ours.toFixed(0)} | ${base} | ${theirs.toFixed(0)} | ${(ours / theirs).toFixed(2)} |`),
  ];
  console.log(lines.join('\n'));
  const json = flag('json', undefined);
  if (json) writeFileSync(json, JSON.stringify(rows, null, 2));
}

await main();
