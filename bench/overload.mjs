#!/usr/bin/env node
// Goodput and served-p99 against offered load, 0.5× to 4× the server's measured capacity, for:
// the bare server, the same server with steadfast's adaptiveLimit (Gradient2, defaults), with a
// fixed limit (a bulkhead at twice the downstream pool), and the bare server behind HAProxy with
// `maxconn` (the pool size) and `timeout queue 1s` — what users reach for. Open-loop load
// (steadfast's LoadGenerator: latency from the scheduled time), client timeout 2 s; goodput is
// 2xx answers within those 2 s per second, p99 is of those answers only, a shed's own latency is
// reported apart.
// Usage: npm run bench:overload [-- --seconds 5 --pool 4]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { LoadGenerator, freePort, nearestRank } from '../dist/index.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const seconds = Number(flag('seconds', 5));
const pool = Number(flag('pool', 4));
// --only bare,adaptive,fixed,haproxy picks rows; --adaptive '{"windowMs":500}' tries other settings.
const only = flag('only', 'bare,adaptive,fixed,haproxy').split(',');
const adaptiveOptions = flag('adaptive', '{}');
const warmSeconds = Number(flag('warm', 12));
const here = path.dirname(fileURLToPath(import.meta.url));
const progress = (s) => process.stderr.write(`\r${s.padEnd(80)}`);

async function startServer(mode) {
  const port = await freePort();
  const env = { ...process.env, ADAPTIVE_OPTIONS: adaptiveOptions };
  const child = spawn(process.execPath, [path.join(here, 'overload-server.mjs'), String(port), mode, String(pool)], { stdio: ['ignore', 'pipe', 'inherit'], env });
  await new Promise((resolve) => child.stdout.once('data', resolve));
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') };
}

async function startHaproxy(upstreamUrl) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-overload-haproxy-'));
  const cfg = path.join(dir, 'haproxy.cfg');
  const up = new URL(upstreamUrl);
  writeFileSync(cfg, ['global', '  maxconn 5000', 'defaults', '  mode http', '  maxconn 4500', '  timeout connect 1s', '  timeout client 10s', '  timeout server 10s', '  timeout queue 1s', 'frontend f', `  bind 127.0.0.1:${port}`, '  default_backend b', 'backend b', `  server s1 ${up.hostname}:${up.port} maxconn ${2 * pool}`, ''].join('\n'));
  const child = spawn('haproxy', ['-f', cfg, '-db'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const r = await request(`http://127.0.0.1:${port}/`).catch(() => undefined);
    if (r) {
      await r.body.dump();
      break;
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  return { url: `http://127.0.0.1:${port}`, stop: () => (child.kill('SIGKILL'), rmSync(dir, { recursive: true, force: true })) };
}

/** Closed loop, 32 clients for 3 s against the bare server: what it can serve. */
async function capacity(url) {
  let n = 0;
  const until = performance.now() + 3000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (performance.now() < until) {
        const r = await request(url);
        await r.body.dump();
        if (r.statusCode === 200) n++;
      }
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

async function offered(url, ratePerSec, warm = true) {
  // A traffic spike on a running server: --warm seconds at half capacity first (not counted), so
  // a limit has learnt the server's latency (ten of Gradient2's 1 s windows) before the load steps up.
  if (warm && warmSeconds > 0) await new LoadGenerator({ url, ratePerSec: Math.round(cap * 0.5), durationMs: warmSeconds * 1000, timeoutMs: 2000 }).run();
  const served = [];
  const shedMs = [];
  let failed = 0;
  // Every request due may be in flight at once (4× offered × 2 s): one connection each, as open-loop clients.
  const load = new LoadGenerator({ url, ratePerSec, durationMs: seconds * 1000, timeoutMs: 2000, maxInFlight: 8000, connections: 8000 });
  const steady = [];
  let t0 = Infinity;
  load.on('result', (r) => {
    t0 = Math.min(t0, r.scheduledAt);
    // Served means answered 2xx within the client's 2 s, counted from when the request was due.
    // "Steady" leaves out requests due in the first second of the step (while a limit adapts).
    if (r.ok && r.latencyMs <= 2000) {
      served.push(r.latencyMs);
      if (r.scheduledAt >= t0 + 1000) steady.push(r.latencyMs);
    }
    else {
      failed++;
      if (r.status === 503) shedMs.push(r.latencyMs);
    }
  });
  const { durationMs } = await load.run();
  served.sort((a, b) => a - b);
  steady.sort((a, b) => a - b);
  shedMs.sort((a, b) => a - b);
  // Goodput over the whole run, queue drained included (a queue answered late must not look like extra capacity).
  return { goodput: served.length / (durationMs / 1000), p99: nearestRank(served, 99), steadyP99: nearestRank(steady, 99), p50: nearestRank(served, 50), failed, shed: shedMs.length, shedP50: shedMs.length ? nearestRank(shedMs, 50) : NaN };
}

let cap = 0;

async function main() {
  const bare = await startServer('bare');
  progress('bench:overload measuring capacity (closed loop, 32 clients)');
  cap = await capacity(bare.url);
  const unloaded = await offered(bare.url, Math.round(cap * 0.25), false);
  bare.stop();
  const multiples = flag('multiples', '0.5,1,2,4').split(',').map(Number);
  const variants = [
    ['bare', 'bare server', () => startServer('bare')],
    ['adaptive', `steadfast adaptiveLimit (Gradient2${adaptiveOptions === '{}' ? ' defaults' : ` ${adaptiveOptions}`})`, () => startServer('adaptive')],
    ['fixed', `fixed limit (${2 * pool} in flight)`, () => startServer('bulkhead')],
    ['haproxy', `HAProxy 2.6, server maxconn ${2 * pool}, timeout queue 1s, in front of the bare server`, async () => {
      const s = await startServer('bare');
      const h = await startHaproxy(s.url);
      return { url: h.url, stop: () => (h.stop(), s.stop()) };
    }],
  ];
  const rows = [];
  for (const [key, label, start] of variants) {
    if (!only.includes(key)) continue;
    for (const m of multiples) {
      progress(`bench:overload ${label.slice(0, 40)} at ${m}×`);
      const s = await start();
      rows.push({ label, m, ...(await offered(s.url, Math.round(cap * m))) });
      s.stop();
    }
  }
  process.stderr.write(`\r${''.padEnd(80)}\r`);
  const lines = [
    `Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0].model.trim()}; a server whose capacity is a pool of ${pool} downstream connections × 10 ms (+0.3 ms CPU a request); open-loop load for ${seconds} s per cell, client timeout 2 s.`,
    `Command: npm run bench:overload${args.length ? ` -- ${args.join(' ')}` : ''}`,
    `Measured capacity (closed loop): ${cap.toFixed(0)} req/s; unloaded p99 (0.25×): ${unloaded.p99.toFixed(1)} ms.`,
    '',
    '| front | offered | goodput req/s | × capacity | served p50 ms | served p99 ms | × unloaded p99 | p99 after the first second | × unloaded p99 | failed | of which shed (503) | shed answered in (p50 ms) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.label} | ${r.m}× | ${r.goodput.toFixed(0)} | ${(r.goodput / cap).toFixed(2)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${(r.p99 / unloaded.p99).toFixed(1)} | ${r.steadyP99 > 0 ? r.steadyP99.toFixed(1) : '—'} | ${r.steadyP99 > 0 ? (r.steadyP99 / unloaded.p99).toFixed(1) : '—'} | ${r.failed} | ${r.shed} | ${Number.isNaN(r.shedP50) ? '—' : r.shedP50.toFixed(1)} |`),
  ];
  console.log(lines.join('\n'));
}

await main();
process.exit(0);
