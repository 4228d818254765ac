#!/usr/bin/env node
// Durable KV writes: what a 200 from `steadfast registry --data-dir` costs now that it means
// "on disk" (the checkpoint holding the write is fsynced before the answer), against a real
// single-member etcd — which also fsyncs its WAL before it answers — doing the same work: 16
// concurrent keep-alive HTTP clients each PUT a 128-byte value under one of 64 keys of their own
// (1024 keys in all), as fast as answers come. The in-memory registry (no --data-dir) is the
// ceiling. Each server is its own process; rounds interleave; medians of the rounds.
// Usage: npm run bench:registry-durable [-- --seconds 3 --rounds 3]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { freePort } from '../dist/index.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const seconds = Number(flag('seconds', 3));
const rounds = Number(flag('rounds', 3));
const CLIENTS = 16;
const VALUE = 'v'.repeat(128);
const cli = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));


async function waitUp(url) {
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status < 500) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not come up`);
}

async function startRegistry(durable) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-bench-reg-'));
  const child = spawn(process.execPath, [cli, 'registry', '--port', String(port), ...(durable ? ['--data-dir', dir] : [])], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await waitUp(`${url}/v1/status/leader`);
  const put = (k) => ({ url: `${url}/v1/kv/bench/${k}`, body: VALUE });
  return { child, dir, put };
}

async function startEtcd() {
  const [port, peer] = [await freePort(), await freePort()];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-bench-etcd-'));
  const client = `http://127.0.0.1:${port}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const child = spawn('etcd', ['--name', 'bench', '--data-dir', path.join(dir, 'data'), '--listen-client-urls', client, '--advertise-client-urls', client, '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', `bench=${peerUrl}`, '--log-level', 'error'], { stdio: 'ignore' });
  await waitUp(`${client}/health`);
  const b64 = (s) => Buffer.from(s).toString('base64');
  // etcd's JSON gateway for KV.Put: one HTTP request per write, as for the registry.
  const put = (k) => ({ url: `${client}/v3/kv/put`, body: JSON.stringify({ key: b64(`bench/${k}`), value: b64(VALUE) }), method: 'POST' });
  return { child, dir, put };
}

async function measure(server) {
  const dispatcher = new Agent({ connections: CLIENTS });
  const lat = [];
  const until = performance.now() + seconds * 1000;
  let n = 0;
  let failed = 0;
  const worker = async (w) => {
    for (let i = 0; performance.now() < until; i++) {
      const { url, body, method } = server.put(`${w}-${i % 64}`);
      const t = performance.now();
      const r = await request(url, { method: method ?? 'PUT', body, dispatcher });
      await r.body.dump();
      if (r.statusCode !== 200) failed++;
      lat.push(performance.now() - t);
      n++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, (_, w) => worker(w)));
  const rate = n / ((performance.now() - t0) / 1000);
  await dispatcher.close();
  lat.sort((a, b) => a - b);
  return { rate, p50: lat[lat.length >> 1], p99: lat[Math.floor(lat.length * 0.99)], failed };
}

const kinds = {
  'steadfast registry --data-dir (fsync before 200)': () => startRegistry(true),
  'etcd 3.4, one member (WAL fsync before answer)': startEtcd,
  'steadfast registry in memory (no durability)': () => startRegistry(false),
};
const results = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
for (let r = 0; r < rounds; r++) {
  for (const [name, start] of Object.entries(kinds)) {
    process.stderr.write(`\rbench:registry-durable round ${r + 1}/${rounds} ${name} …          `);
    const s = await start();
    try {
      await measure(s); // warm-up pass, shorter in effect: the JIT and the server's first saves
      results[name].push(await measure(s));
    } finally {
      s.child.kill('SIGKILL');
      rmSync(s.dir, { recursive: true, force: true });
    }
  }
}
process.stderr.write('\n');
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const anchor = median(results['etcd 3.4, one member (WAL fsync before answer)'].map((x) => x.rate));
const lines = [
  `Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; ${CLIENTS} concurrent keep-alive clients, 128-byte values over 1024 keys, ${seconds} s per round after a warm-up, ${rounds} interleaved rounds, medians.`,
  `Command: npm run bench:registry-durable -- --seconds ${seconds} --rounds ${rounds}`,
  '',
  '| server | durable writes/s | × etcd | p50 ms | p99 ms | failed |',
  '| --- | ---: | ---: | ---: | ---: | ---: |',
  ...Object.entries(results).map(([name, xs]) => `| ${name} | ${median(xs.map((x) => x.rate)).toFixed(0)} | ${(median(xs.map((x) => x.rate)) / anchor).toFixed(2)} | ${median(xs.map((x) => x.p50)).toFixed(1)} | ${median(xs.map((x) => x.p99)).toFixed(1)} | ${xs.reduce((a, x) => a + x.failed, 0)} |`),
];
console.log(lines.join('\n'));
