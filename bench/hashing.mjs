#!/usr/bin/env node
// Consistent hashing: 10 nodes, 1M keys, in one run against npm hashring 3.2 (ketama, md5)
// and consistent-hash 1.2, and the seed's modulo formula. For each placement: lookups/s,
// max/mean load, coefficient of variation, share of keys moved when a node is removed and
// when one is added (against the ideal), and agreement with a second process that added the
// nodes in the reverse order.
// Usage: npm run bench:hashing [-- --keys 1000000 --rounds 3]
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const KEYS = Number(flag('keys', 1_000_000));
const ROUNDS = Number(flag('rounds', 3));
const AGREE_KEYS = 100_000;
const NODES = Array.from({ length: 10 }, (_, i) => `node-${i}`);

async function candidates() {
  const s = await import('../dist/index.js');
  const HashRingNpm = require('hashring');
  const ConsistentHash = require('consistent-hash');
  const ours = (make, ordered = false) => ({
    ordered,
    build: (nodes) => {
      const p = make();
      for (const n of nodes) p.add(n);
      return { lookup: (k) => p.lookup(k), remove: (n) => p.remove(n), add: (n) => p.add(n) };
    },
  });
  return {
    'steadfast HashRing (default: 2048 vnodes, murmur3)': ours(() => new s.HashRing()),
    'steadfast HashRing (160 vnodes, as hashring)': ours(() => new s.HashRing({ vnodes: 160 })),
    'steadfast Maglev (65537 slots)': ours(() => new s.Maglev()),
    'steadfast Rendezvous': ours(() => new s.Rendezvous()),
    'steadfast JumpHash': ours(() => new s.JumpHash(), true),
    'ModuloHash (the seed: h(x) mod n)': ours(() => new s.ModuloHash(), true),
    'npm hashring 3.2 (ketama, md5, 160 points/node)': {
      build: (nodes) => {
        const r = new HashRingNpm(nodes);
        return { lookup: (k) => r.get(k), remove: (n) => r.remove(n), add: (n) => r.add(n) };
      },
    },
    'npm consistent-hash 1.2': {
      build: (nodes) => {
        const r = new ConsistentHash();
        for (const n of nodes) r.add(n);
        return { lookup: (k) => r.get(k), remove: (n) => r.remove(n), add: (n) => r.add(n) };
      },
    },
  };
}

const keyOf = (i) => `user:${(i * 2654435761 >>> 0).toString(36).padStart(7, '0')}:${i}`;

async function child(name, count) {
  const c = (await candidates())[name];
  // Placements whose node order is the mapping (jump, modulo) are given the same order.
  const p = c.build(c.ordered ? NODES : [...NODES].reverse());
  const out = new Array(count);
  for (let i = 0; i < count; i++) out[i] = p.lookup(keyOf(i));
  process.stdout.write(JSON.stringify(out));
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

async function main() {
  const list = await candidates();
  const keys = Array.from({ length: KEYS }, (_, i) => keyOf(i));
  const rows = [];
  // Lookup rate: each round times every placement in turn, each in a fresh process (so one
  // placement's lookup call site is not shared with, and deoptimized by, the others — as in an
  // application, which calls one placement), and a slow moment of the machine falls on all.
  const self = fileURLToPath(import.meta.url);
  const built = Object.entries(list).map(([name, c]) => ({ name, c, rates: [] }));
  for (let r = 0; r < ROUNDS; r++) {
    for (const b of built) {
      process.stderr.write(`\rbench:hashing round ${r + 1}/${ROUNDS} ${b.name} …                                `);
      const t = spawnSync(process.execPath, [self, '--time', b.name, '--keys', String(KEYS)], { encoding: 'utf8' });
      if (t.status !== 0) throw new Error(t.stderr);
      b.rates.push(Number(t.stdout));
    }
  }
  for (const b of built) {
    const p = b.c.build(NODES);
    b.owner = keys.map((k) => p.lookup(k));
  }
  for (const { name, c, owner, rates } of built) {
    process.stderr.write(`\rbench:hashing balance and movement: ${name} …                                `);
    const counts = new Map();
    for (const o of owner) counts.set(o, (counts.get(o) ?? 0) + 1);
    const loads = NODES.map((n) => counts.get(n) ?? 0);
    const mean = KEYS / NODES.length;
    const cv = Math.sqrt(loads.reduce((s, x) => s + (x - mean) ** 2, 0) / loads.length) / mean;
    // Remove node-3 (JumpHash can only remove the last node: node-9).
    const victim = name.includes('JumpHash') ? 'node-9' : 'node-3';
    const removed = c.build(NODES);
    removed.remove(victim);
    let movedRemove = 0;
    for (let i = 0; i < KEYS; i++) if (removed.lookup(keys[i]) !== owner[i]) movedRemove++;
    const added = c.build(NODES);
    added.add('node-10');
    let movedAdd = 0;
    for (let i = 0; i < KEYS; i++) if (added.lookup(keys[i]) !== owner[i]) movedAdd++;
    // Agreement with a fresh process that added the nodes in reverse order.
    const r = spawnSync(process.execPath, [self, '--child', name], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(r.stderr);
    const other = JSON.parse(r.stdout);
    let agree = 0;
    for (let i = 0; i < AGREE_KEYS; i++) if (other[i] === owner[i]) agree++;
    rows.push({
      name,
      lookupsPerSec: median(rates),
      maxMean: Math.max(...loads) / mean,
      cv,
      movedRemove: movedRemove / KEYS,
      movedAdd: movedAdd / KEYS,
      agree: agree / AGREE_KEYS,
      ordered: c.ordered === true,
    });
  }
  process.stderr.write('\n');
  const hashring = rows.find((r) => r.name.startsWith('npm hashring'));
  const lines = [
    `Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; ${NODES.length} nodes, ${KEYS.toLocaleString('en')} keys like "${keyOf(12345)}", lookups/s median of ${ROUNDS} interleaved rounds, each placement in a fresh process (a warm-up pass, then the median of 3); agreement over ${AGREE_KEYS.toLocaleString('en')} keys with a second process that added the nodes in reverse order.`,
    `Command: npm run bench:hashing -- --keys ${KEYS} --rounds ${ROUNDS}`,
    '',
    '| placement | lookups/s | × hashring | max/mean | CV | moved on remove (ideal 0.100) | moved on add (ideal 0.091) | agree |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${(r.lookupsPerSec / 1e6).toFixed(2)} M | ${(r.lookupsPerSec / hashring.lookupsPerSec).toFixed(1)}× | ${r.maxMean.toFixed(3)} | ${r.cv.toFixed(3)} | ${r.movedRemove.toFixed(3)} (${(r.movedRemove / 0.1).toFixed(2)}×) | ${r.movedAdd.toFixed(3)} (${(r.movedAdd / (1 / 11)).toFixed(2)}×) | ${(r.agree * 100).toFixed(1)} %${r.ordered ? ' (same order)' : ''} |`,
    ),
  ];
  console.log(lines.join('\n'));
}

/** In this fresh process: a warm-up pass over every key, then the median of 3 timed passes (lookups/s). */
async function timeOne(name) {
  const p = (await candidates())[name].build(NODES);
  const keys = Array.from({ length: KEYS }, (_, i) => keyOf(i));
  const owner = new Array(KEYS);
  const rates = [];
  for (let pass = 0; pass < 4; pass++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < KEYS; i++) owner[i] = p.lookup(keys[i]);
    if (pass > 0) rates.push(KEYS / (Number(process.hrtime.bigint() - t0) / 1e9)); // pass 0 warms up
  }
  process.stdout.write(String(median(rates)));
}

if (args[0] === '--child') await child(args[1], AGREE_KEYS);
else if (args[0] === '--time') await timeOne(args[1]);
else await main();
