#!/usr/bin/env node
// FaultProxy with no toxic against a direct connection (bulk TCP throughput and request/response
// round trips), and the LoadGenerator's achievable open-loop rate, in one run.
// Usage: npm run bench:chaos [-- --seconds 3]
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { FaultProxy, LoadGenerator } from '../dist/index.js';

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf('--seconds') + 1] || 3);

// The sink and the proxy each run in their own process, as they would in use; the client here.
if (args[0] === '--sink') {
  const server = net.createServer((s) => {
    s.on('data', (d) => {
      if (d.length < 64) s.write(d); // echo the round-trip pings; swallow bulk data
    });
    s.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
} else if (args[0] === '--proxy') {
  const proxy = await new FaultProxy({ upstream: `127.0.0.1:${args[1]}` }).start();
  process.stdout.write(`${proxy.port}\n`);
} else {
  await main();
}

function start(argv) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => child.stdout.once('data', (d) => resolve({ child, port: Number(String(d).trim()) })));
}

async function main() {
const sink = await start(['--sink']);
const port = sink.port;
const proxyChild = await start(['--proxy', String(port)]);
const proxy = { port: proxyChild.port };

async function bulk(targetPort) {
  const sock = net.connect(targetPort, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  const chunk = Buffer.alloc(64 * 1024, 1);
  const until = performance.now() + seconds * 1000;
  let bytes = 0;
  while (performance.now() < until) {
    if (!sock.write(chunk)) await new Promise((r) => sock.once('drain', r));
    bytes += chunk.length;
  }
  sock.destroy();
  return bytes / seconds / (1024 * 1024);
}

async function roundTrips(targetPort) {
  const sock = net.connect(targetPort, '127.0.0.1');
  sock.setNoDelay(true);
  await new Promise((r) => sock.once('connect', r));
  const until = performance.now() + seconds * 1000;
  let n = 0;
  while (performance.now() < until) {
    await new Promise((r) => {
      sock.once('data', r);
      sock.write('ping\n');
    });
    n++;
  }
  sock.destroy();
  return n / seconds;
}

const rows = [];
for (const [name, fn] of [['bulk MB/s', bulk], ['round trips/s', roundTrips]]) {
  const direct = [];
  const proxied = [];
  for (let r = 0; r < 3; r++) {
    direct.push(await fn(port));
    proxied.push(await fn(proxy.port));
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[1];
  rows.push([name, med(direct), med(proxied)]);
}
proxyChild.child.kill('SIGKILL');
sink.child.kill('SIGKILL');

const web = http.createServer((_q, res) => res.end('ok'));
await new Promise((r) => web.listen(0, '127.0.0.1', r));
const rates = [];
for (const rate of [500, 2000, 5000]) {
  const gen = new LoadGenerator({ url: `http://127.0.0.1:${web.address().port}/`, ratePerSec: rate, durationMs: seconds * 1000 });
  const s = await gen.run();
  rates.push([rate, s.achievedRatePerSec, s.ok, s.sent, s.sendLagMs]);
}
web.close();

console.log(
  [
    `Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; ${seconds} s per measurement, median of 3 interleaved.`,
    `Command: npm run bench:chaos -- --seconds ${seconds}`,
    '',
    '| measure | direct | through FaultProxy (no toxic) | proxy ÷ direct |',
    '| --- | ---: | ---: | ---: |',
    ...rows.map(([n, d, p]) => `| ${n} | ${d.toFixed(0)} | ${p.toFixed(0)} | ${(p / d).toFixed(2)} |`),
    '',
    '| LoadGenerator target rate | achieved rate | ok / sent | send lag p99 ms | send lag max ms |',
    '| ---: | ---: | ---: | ---: | ---: |',
    ...rates.map(([t, a, ok, sent, lag]) => `| ${t}/s | ${a.toFixed(0)}/s | ${ok} / ${sent} | ${lag.p99.toFixed(1)} | ${lag.max.toFixed(1)} |`),
  ].join('\n'),
);
}
