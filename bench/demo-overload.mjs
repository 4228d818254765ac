#!/usr/bin/env node
// The whole demo (db ×3, web ×3, gateways ×2, registry on these 2 cores) without faults, under open-loop
// load past what it can serve. First a sweep finds its capacity (the most 2xx answers per second
// any offered rate got); then it is offered 0.8× and 2.5× that capacity — this build, and, with
// --baseline-dist, an earlier build (for example the tree before overload protection) in the same
// run, alternating. With --faults, the 0.8× cell runs a second time with a process fault (kill or
// pause of a db node, a web node or — from the build with gateway processes on — a gateway) every
// --fault-interval ms. Goodput counts 2xx answers per second; sheds (503/429) and 504s are
// failures; "shed inside" is what the gateways' route limits and the web and db nodes' admission
// refused at their own door (a retry may still have got through); CPU is per request measured,
// for the db tier, the web tier, the gateways and the supervisor process (registry and load
// generator; in builds before the gateway processes, the gateway too), with the cores they kept
// busy together.
// Usage: npm run bench:demo-overload [-- --seconds 15 --sweep 150,300,450,600,800 --baseline-dist /tmp/base/dist --faults --fault-interval 4000]
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const flag = (name, dflt) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : dflt);
const seconds = Number(flag('seconds', 15));
const sweep = flag('sweep', '150,300,450,600,800').split(',').map(Number);
const baselineDist = flag('baseline-dist', undefined);
const seed = Number(flag('seed', 7));
const faults = args.includes('--faults');
const faultIntervalMs = Number(flag('fault-interval', 4000));
for (const [name, v] of [['seconds', seconds], ['seed', seed], ['fault-interval', faultIntervalMs], ...sweep.map((r) => ['sweep', r])]) {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`bench:demo-overload: --${name} must be a positive number, got ${v}`);
}

const builds = [{ name: 'this build', runDemo: (await import('../dist/demo/system.js')).runDemo }];
if (baselineDist) builds.push({ name: `baseline (${baselineDist})`, runDemo: (await import(pathToFileURL(path.join(path.resolve(baselineDist), 'demo/system.js')).href)).runDemo });

async function cell(build, rate, chaos = false) {
  process.stderr.write(`\r${`bench:demo-overload ${build.name.slice(0, 30)} at ${rate} req/s${chaos ? ', faults' : ''}`.padEnd(80)}`);
  let r;
  try {
    r = await build.runDemo({ durationMs: seconds * 1000, ratePerSec: rate, seed, chaos, ...(chaos ? { faultIntervalMs } : {}) });
  } catch (err) {
    // An older build may refuse the rate (the baseline's demo accepted at most 5000 req/s).
    if (err?.code !== 'ERR_INVALID_OPTION') throw err;
    return { build: `${build.name}: refused (${err.message})`, rate, requests: 0, failed: 0, availability: NaN, goodput: NaN, shed: null, inside: null, cpu: null, faults: 0, servedP50: NaN, servedP99: NaN, p99: NaN, lost: '—' };
  }
  const rep = r.report;
  const servedMs = r.load.servedMs ?? { p50: NaN, p99: NaN };
  // A baseline build without the overload figures: goodput from the report's totals.
  const goodput = r.load.goodputPerSec ?? (rep.requests - rep.failedRequests) / seconds;
  // A build before the per-tier shed counts has no r.shedding.
  const sh = r.shedding;
  const inside = sh ? `${sh.gateway} / ${sh.web.shedByLimit + sh.web.shedByHealth + sh.web.expired} / ${sh.db.shedByLimit + sh.db.shedByHealth + sh.db.expired}` : null;
  // CPU ms per request: db tier / web tier / gateways / registry / the supervisor (load generator; before the gateways and the registry had their own processes, they ran here too), and the cores all kept busy.
  const c = r.cpu;
  const none = { perRequestMs: null, cores: 0 };
  const tiers = c ? [c.db, c.web, c.gateway ?? none, c.registry ?? none, c.supervisor] : [];
  const cpu = c ? `${tiers.map((u) => (u.perRequestMs === null ? '—' : u.perRequestMs.toFixed(3))).join(' / ')} (${tiers.reduce((a, u) => a + u.cores, 0).toFixed(2)})` : null;
  return { build: build.name, rate, requests: rep.requests, failed: rep.failedRequests, availability: rep.requestAvailability, goodput, shed: r.load.shed ?? null, inside, cpu, faults: r.faults.length, servedP50: servedMs.p50, servedP99: servedMs.p99, p99: rep.latencyMs.p99, lost: r.lostWrites };
}

const rows = [];
for (const rate of sweep) rows.push({ phase: 'sweep', ...(await cell(builds[0], rate)) });
const capacity = Math.max(...rows.map((r) => r.goodput));
for (const m of [0.8, 2.5]) {
  const rate = Math.round(capacity * m);
  // Alternate which build goes first, so neither always runs on a warmer machine.
  const order = m === 0.8 ? builds : [...builds].reverse();
  for (const b of order) rows.push({ phase: `${m}× capacity`, ...(await cell(b, rate)) });
  if (faults && m === 0.8) for (const b of [...order].reverse()) rows.push({ phase: `0.8× capacity, faults`, ...(await cell(b, rate, true)) });
}
process.stderr.write(`\r${''.padEnd(80)}\r`);

const f = (x, d = 1) => (x === null || Number.isNaN(x) ? '—' : x.toFixed(d));
console.log(`Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0].model.trim()}; every process of the demo on these cores; ${seconds} s of open-loop load per cell, ${faults ? `no faults except in the "faults" cells (one every ${faultIntervalMs} ms)` : 'no faults'}, seed ${seed}.`);
console.log(`Command: npm run bench:demo-overload${args.length ? ` -- ${args.join(' ')}` : ''}`);
console.log(`Capacity (the most 2xx/s of the sweep, this build): ${capacity.toFixed(0)} req/s.\n`);
console.log('| phase | build | offered req/s | faults | goodput req/s | goodput × capacity | failed | of which shed (503/429) | shed inside: gateways / web / db | availability | served p50 ms | served p99 ms | all p99 ms | lost writes | CPU ms per request: db / web / gateways / registry / supervisor (cores busy) |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(`| ${r.phase} | ${r.build} | ${r.rate} | ${r.faults} | ${f(r.goodput, 0)} | ${f(r.goodput / capacity, 2)} | ${r.failed} | ${r.shed ?? '—'} | ${r.inside ?? '—'} | ${f(r.availability * 100, 2)} % | ${f(r.servedP50)} | ${f(r.servedP99)} | ${f(r.p99)} | ${r.lost} | ${r.cpu ?? '—'} |`);
}
process.exit(0);
