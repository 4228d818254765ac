#!/usr/bin/env node
// A rolling restart — each of 3 backends in turn gets SIGTERM, exits, and is started again on its
// port — behind steadfast's gateway (registry-fed), under open-loop load (70 % GET, 30 % POST;
// a POST is not resent after a reset, it may have been applied). Two ways to shut down, same run,
// alternating over --rounds: a plain `server.close()` on SIGTERM (what most services do), and
// steadfast's lifecycle() (deregister → 500 ms → drain with Connection: close → exit). A process
// still running 10 s after SIGTERM is SIGKILLed, as an orchestrator does after its grace period.
// Usage: npm run bench:rolling-restart [-- --rate 1000 --rounds 3]
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedRegistry, Gateway, LoadGenerator, RegistryServer, freePort } from '../dist/index.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => (args.includes(`--${name}`) ? Number(args[args.indexOf(`--${name}`) + 1]) : dflt);
const rate = flag('rate', 1000);
const rounds = flag('rounds', 3);
const here = path.dirname(fileURLToPath(import.meta.url));
const GRACE_MS = 10_000;

function backend(mode, id, port, registryUrl) {
  const child = spawn(process.execPath, [path.join(here, 'rolling-restart-backend.mjs'), mode, id, String(port), registryUrl], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise((resolve, reject) => {
    child.stdout.on('data', (c) => String(c).includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`${id} exited (${code}) before it was ready`)));
  });
  const exited = new Promise((r) => child.once('exit', (code) => r(code)));
  return { child, ready, exited };
}

async function run(mode) {
  const embedded = new EmbeddedRegistry();
  const rs = await new RegistryServer({ registry: embedded, port: 0 }).listen();
  const gateway = await new Gateway({ registry: embedded, routes: [{ path: '/', service: 'api' }] }).listen();
  const ids = ['b1', 'b2', 'b3'];
  const ports = await Promise.all(ids.map(() => freePort()));
  const procs = ids.map((id, i) => backend(mode, id, ports[i], rs.url));
  await Promise.all(procs.map((p) => p.ready));
  const healthy = async (n) => {
    while ((await embedded.healthy('api')).length < n) await new Promise((r) => setTimeout(r, 50));
  };
  await healthy(3);
  const failures = new Map();
  let seq = 0;
  const load = new LoadGenerator({
    url: gateway.url,
    ratePerSec: rate,
    durationMs: 60_000,
    timeoutMs: 5000,
    next: () => (seq++ % 10 < 3 ? { method: 'POST', path: '/items', body: '{"x":1}', headers: { 'content-type': 'application/json' } } : { path: '/items' }),
  });
  load.on('result', (r) => {
    if (r.ok) return;
    const k = r.status ? `HTTP ${r.status}` : r.error;
    failures.set(k, (failures.get(k) ?? 0) + 1);
  });
  const running = load.run();
  await new Promise((r) => setTimeout(r, 1000));
  const exitCodes = [];
  for (let i = 0; i < ids.length; i++) {
    procs[i].child.kill('SIGTERM');
    // As an orchestrator does: SIGKILL after the grace period (Kubernetes' default is 30 s; 10 s here).
    const grace = setTimeout(() => procs[i].child.kill('SIGKILL'), GRACE_MS);
    const code = await procs[i].exited;
    clearTimeout(grace);
    exitCodes.push(code === null ? 'SIGKILL after grace' : code);
    procs[i] = backend(mode, ids[i], ports[i], rs.url);
    await procs[i].ready;
    await healthy(3);
    await new Promise((r) => setTimeout(r, 1000));
  }
  load.stop();
  const summary = await running;
  // What the gateway absorbed: attempts it retried elsewhere (refused or reset connections, 5xx).
  const { retries } = gateway.routeStats()[0];
  for (const p of procs) p.child.kill('SIGKILL');
  await gateway.close();
  await rs.close();
  await embedded.close();
  const failed = [...failures.values()].reduce((a, b) => a + b, 0);
  return { mode, sent: summary.sent, failed, failures: Object.fromEntries(failures), exitCodes, retries };
}

const results = { plain: [], lifecycle: [] };
for (let round = 0; round < rounds; round++) {
  for (const mode of round % 2 === 0 ? ['plain', 'lifecycle'] : ['lifecycle', 'plain']) {
    process.stderr.write(`round ${round + 1}/${rounds}: ${mode}…\n`);
    results[mode].push(await run(mode));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0].model.trim()}; 3 backends behind steadfast's gateway (registry-fed), each restarted in turn under ${rate} req/s open loop (70 % GET, 30 % POST).`);
console.log(`Command: npm run bench:rolling-restart -- --rate ${rate} --rounds ${rounds}; ${rounds} rounds, alternating.\n`);
console.log('| shutdown on SIGTERM | requests (median) | failed per round | failed (median) | how they failed (all rounds) | gateway retries per round (refused/reset/5xx absorbed) | exit codes |');
console.log('| --- | ---: | --- | ---: | --- | --- | --- |');
for (const [mode, xs] of Object.entries(results)) {
  const how = {};
  for (const x of xs) for (const [k, v] of Object.entries(x.failures)) how[k] = (how[k] ?? 0) + v;
  const label = mode === 'plain' ? '`server.close()`, exit when closed' : "steadfast `lifecycle()` (deregister, 500 ms, drain)";
  console.log(`| ${label} | ${median(xs.map((x) => x.sent))} | ${xs.map((x) => x.failed).join(', ')} | ${median(xs.map((x) => x.failed))} | ${Object.entries(how).map(([k, v]) => `${k}: ${v}`).join('; ') || '—'} | ${xs.map((x) => x.retries).join(', ')} | ${[...new Set(xs.flatMap((x) => x.exitCodes))].join(', ')} |`);
}
process.exit(0);
