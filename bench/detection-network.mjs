#!/usr/bin/env node
// A fixed TTL against φ accrual, on a real lossy network: the registry (steadfast's
// Consul-compatible server, the demo's registry process) in one network namespace, four
// heartbeating nodes in four others. Each node registers two instances — one judged by a TTL of
// 500 ms, one by φ (heartbeats every 167 ms, a pause allowance of the rest of the 500 ms: the
// demo's `--detector phi`) — and renews both on every beat, over one connection: both detectors
// see the same network, beat for beat. Per round: 15 s of 30 % packet loss on every node's link
// (iptables statistic), 15 s of a flapping link (down 300 ms, up 700 ms), then each node
// SIGKILLed in turn. Counted: false suspicions (a live node's instance marked critical), and the
// time from each SIGKILL to its instances leaving the healthy set.
// Needs root, ip and iptables. Usage: npm run bench:detection-network [-- --rounds 3]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetworkHosts, networkHostsMissing } from '../dist/chaos/index.js';
import { HttpRegistry } from '../dist/registry/index.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROUNDS = Number(flag('rounds', 3));
const PHASE_MS = Number(flag('phase-ms', 15_000));
const NODES = 4;
const TTL_MS = 500;
const BEAT_MS = Math.round(TTL_MS / 3);
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cli = path.join(root, 'dist/cli/index.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const missing = networkHostsMissing();
if (missing) {
  console.error(`bench:detection-network needs network namespaces: ${missing}`);
  process.exit(2);
}

// One node: registers `<id>-ttl` (service ttl) and `<id>-phi` (service phi), then passes both every BEAT_MS.
const beater = `
import { HttpRegistry } from ${JSON.stringify(path.join(root, 'dist/registry/index.js'))};
const [url, id, host, ttlMs, beatMs] = process.argv.slice(2);
const registry = new HttpRegistry({ url, timeoutMs: 2000 });
const kinds = { ttl: { ttlMs: Number(ttlMs), status: 'critical' }, phi: { ttlMs: Number(beatMs), phi: { acceptableHeartbeatPauseMs: Number(ttlMs) - Number(beatMs) }, status: 'critical' } };
for (;;) {
  try {
    for (const [k, check] of Object.entries(kinds)) await registry.register({ id: id + '-' + k, service: k, address: host, port: 1, checks: [check] });
    break;
  } catch { await new Promise((r) => setTimeout(r, 100)); }
}
setInterval(() => { for (const k of Object.keys(kinds)) registry.pass('service:' + id + '-' + k, 'ok').catch(() => {}); }, Number(beatMs));
process.send?.('ready');
`;

async function round(r) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-bench-detect-'));
  const script = path.join(dir, 'beat.mjs');
  writeFileSync(script, beater);
  const names = Array.from({ length: NODES }, (_, i) => `n${i + 1}`);
  const net = await NetworkHosts.create({ hosts: ['registry', ...names] });
  const children = [];
  const port = 18_000 + r;
  try {
    const reg = net.host('registry');
    const env = { ...process.env, STEADFAST_DEMO_NODE: JSON.stringify({ role: 'registry', id: 'registry', port, host: reg.address, dir: path.join(dir, 'registry') }) };
    children.push(net.spawn('registry', process.execPath, [cli, 'demo-node'], { env, stdio: 'ignore' }));
    const url = `http://${reg.address}:${port}`;
    const beaters = new Map();
    for (const n of names) {
      const child = net.spawn(n, process.execPath, [script, url, n, net.host(n).address, String(TTL_MS), String(BEAT_MS)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      children.push(child);
      beaters.set(n, child);
    }
    // The bench's view, from the root namespace (never cut): each service's healthy set, with times.
    const observer = new HttpRegistry({ url, timeoutMs: 2000 });
    const healthy = { ttl: new Set(), phi: new Set() };
    const transitions = [];
    const watches = Object.keys(healthy).map((kind) =>
      observer.watch(kind, (list) => {
        const now = new Set(list.map((h) => h.instance.id.replace(/-(ttl|phi)$/, '')));
        const at = performance.now();
        for (const n of healthy[kind]) if (!now.has(n)) transitions.push({ kind, node: n, up: false, at });
        for (const n of now) if (!healthy[kind].has(n)) transitions.push({ kind, node: n, up: true, at });
        healthy[kind] = now;
      }),
    );
    const until = Date.now() + 30_000;
    while ((healthy.ttl.size < NODES || healthy.phi.size < NODES) && Date.now() < until) await sleep(50);
    if (healthy.ttl.size < NODES || healthy.phi.size < NODES) throw new Error(`round ${r}: not every node became healthy (ttl ${[...healthy.ttl]}, phi ${[...healthy.phi]})`);
    await sleep(2000); // φ learns the calm intervals first
    const downs = (kind, from, to) => transitions.filter((t) => t.kind === kind && !t.up && t.at >= from && t.at < to).length;
    const result = {};
    // Loss on every node's link.
    let from = performance.now();
    for (const n of names) await net.loss(n, 0.3);
    await sleep(PHASE_MS);
    await net.heal();
    await sleep(1500);
    result.loss = { ttl: downs('ttl', from, performance.now()), phi: downs('phi', from, performance.now()) };
    // Every node's link flapping (each its own flap, from the same moment).
    from = performance.now();
    const flaps = names.map((n) => net.flap(n, { downMs: 300, upMs: 700 }));
    await sleep(PHASE_MS);
    await Promise.all(flaps.map((f) => f.stop()));
    await sleep(1500);
    result.flap = { ttl: downs('ttl', from, performance.now()), phi: downs('phi', from, performance.now()) };
    // Real crashes: SIGKILL each node in turn; detection = kill → that instance out of the healthy set.
    const detect = { ttl: [], phi: [] };
    for (const n of names) {
      const killedAt = performance.now();
      beaters.get(n).kill('SIGKILL');
      const deadline = killedAt + 10_000;
      while (performance.now() < deadline && (healthy.ttl.has(n) || healthy.phi.has(n))) await sleep(5);
      for (const kind of ['ttl', 'phi']) {
        const t = transitions.find((x) => x.kind === kind && x.node === n && !x.up && x.at >= killedAt);
        detect[kind].push(t ? t.at - killedAt : null);
      }
      await sleep(300);
    }
    result.detect = detect;
    for (const w of watches) w.dispose();
    await observer.close();
    return result;
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await sleep(200);
    await net.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rounds = [];
for (let r = 0; r < ROUNDS; r++) {
  const res = await round(r);
  rounds.push(res);
  console.error(`round ${r + 1}: loss ttl ${res.loss.ttl} / phi ${res.loss.phi} false suspicions; flap ttl ${res.flap.ttl} / phi ${res.flap.phi}; detection ttl ${res.detect.ttl.map((x) => (x === null ? '—' : Math.round(x))).join(',')} ms, phi ${res.detect.phi.map((x) => (x === null ? '—' : Math.round(x))).join(',')} ms`);
}
const med = (pick) => median(rounds.map(pick));
const fs = (kind, phase) => med((x) => x[phase][kind]);
const det = (kind) => median(rounds.flatMap((x) => x.detect[kind].filter((v) => v !== null)));
const missed = (kind) => rounds.reduce((n, x) => n + x.detect[kind].filter((v) => v === null).length, 0);
const ratio = (a, b) => (b === 0 ? (a === 0 ? '1.00×' : '∞') : `${(a / b).toFixed(2)}×`);
const perMin = (n) => (n / (PHASE_MS / 60_000) / NODES).toFixed(2);
console.log(`\nbench:detection-network — ${NODES} nodes in network namespaces, heartbeats every ${BEAT_MS} ms; TTL ${TTL_MS} ms vs φ (pause allowance ${TTL_MS - BEAT_MS} ms); ${ROUNDS} rounds, medians`);
console.log('\n| phase | TTL | φ | φ / TTL |');
console.log('| --- | --- | --- | --- |');
console.log(`| 30 % loss, ${PHASE_MS / 1000} s: false suspicions (per node-minute) | ${fs('ttl', 'loss')} (${perMin(fs('ttl', 'loss'))}) | ${fs('phi', 'loss')} (${perMin(fs('phi', 'loss'))}) | ${ratio(fs('phi', 'loss'), fs('ttl', 'loss'))} |`);
console.log(`| flap 300 ms down / 700 ms up, ${PHASE_MS / 1000} s: false suspicions (per node-minute) | ${fs('ttl', 'flap')} (${perMin(fs('ttl', 'flap'))}) | ${fs('phi', 'flap')} (${perMin(fs('phi', 'flap'))}) | ${ratio(fs('phi', 'flap'), fs('ttl', 'flap'))} |`);
console.log(`| SIGKILL → out of the healthy set, median ms (${ROUNDS * NODES} kills) | ${Math.round(det('ttl'))} | ${Math.round(det('phi'))} | ${ratio(det('phi'), det('ttl'))} |`);
console.log(`| kills not detected within 10 s | ${missed('ttl')} | ${missed('phi')} | |`);
console.log(`\nnode bench/detection-network.mjs --rounds ${ROUNDS} --phase-ms ${PHASE_MS}  (${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)})`);
process.exit(0);
