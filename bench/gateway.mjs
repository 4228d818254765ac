#!/usr/bin/env node
// The gateway against npm http-proxy and a bare undici pass-through, in front of the same three
// backend processes, in one run (autocannon, keep-alive): requests/s and p50/p99 latency. Then a
// backend is SIGKILLed under load through steadfast's gateway, HAProxy (tuned for fast failover,
// and with common defaults) and http-proxy: throughput in that window, failed requests seen by
// the client, and time from the kill to the last failure.
// Usage: npm run bench:gateway [-- --seconds 5 --connections 32 --rounds 3 --failover-rounds 3
//   --kinds steadfast,http-proxy,undici,dispatch,haproxy-tuned --failover-kinds steadfast,haproxy-tuned,haproxy-defaults,http-proxy
//   --baseline-dist ../other-checkout/dist   (adds that build of the gateway, for before/after in one run)]
// The HAProxy rows need haproxy on the PATH's usual places (apt-get install -y haproxy).
import { spawn } from 'node:child_process';
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const self = fileURLToPath(import.meta.url);
const haproxyBinary = ['/usr/sbin/haproxy', '/usr/bin/haproxy', '/usr/local/sbin/haproxy'].find((p) => existsSync(p));

if (args[0] === '--backend') {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true,"items":[1,2,3,4,5,6,7,8]}');
    });
  });
  server.keepAliveTimeout = 10_000;
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
} else if (args[0] === '--proxy') {
  process.on('SIGINT', () => process.exit(0));
  const [, kind, ...targets] = args;
  const urls = targets.map((p) => `http://127.0.0.1:${p}`);
  let server;
  if (kind === 'steadfast' || kind === 'steadfast-baseline') {
    // steadfast-baseline: another build of steadfast (--baseline-dist DIR), for before/after in one run.
    const { Gateway } = await import(kind === 'steadfast' ? '../dist/index.js' : pathToFileURL(path.join(process.env.STEADFAST_BASELINE_DIST, 'index.js')).href);
    const g = await new Gateway({ routes: [{ path: '/', upstreams: urls, perTryTimeoutMs: 500, timeoutMs: 5000, strategy: 'round-robin' }], port: 0 }).listen();
    if (process.env.BENCH_DEBUG) {
      const route = g['routes'][0];
      route.client.on('budgetExhausted', () => process.stderr.write(`[gw] budget exhausted ${Date.now() % 100000}\n`));
      route.client.on('attempt', (a) => a.outcome !== 'ok' && process.stderr.write(`[gw] attempt ${a.endpoint} ${a.outcome} ${Date.now() % 100000}\n`));
      route.balancer.on('eject', (e) => process.stderr.write(`[gw] eject ${JSON.stringify(e).slice(0, 100)} ${Date.now() % 100000}\n`));
    }
    process.stdout.write(`${g.port}\n`);
  } else if (kind === 'http-proxy') {
    const { default: httpProxy } = await import('http-proxy');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
    const proxy = httpProxy.createProxyServer({ agent });
    proxy.on('error', (_err, _req, res) => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    let i = 0;
    server = http.createServer((req, res) => proxy.web(req, res, { target: urls[i++ % urls.length] }));
  } else if (kind === 'dispatch') {
    const { Agent } = await import('undici');
    const dispatcher = new Agent({ connections: 128 });
    let i = 0;
    server = http.createServer((req, res) => {
      const origin = urls[i++ % urls.length];
      dispatcher.dispatch({ origin, path: req.url, method: req.method, headers: { 'content-type': req.headers['content-type'] ?? 'text/plain' } }, {
        onRequestStart() {},
        onResponseStart(_c, statusCode, headers) { res.writeHead(statusCode, { 'content-type': headers['content-type'] ?? 'application/octet-stream' }); },
        onResponseData(_c, chunk) { res.write(chunk); },
        onResponseEnd() { res.end(); },
        onResponseError() { if (!res.headersSent) res.writeHead(502); res.end(); },
      });
    });
  } else {
    const { Agent, request } = await import('undici');
    const dispatcher = new Agent({ connections: 128 });
    let i = 0;
    server = http.createServer(async (req, res) => {
      try {
        const up = await request(urls[i++ % urls.length] + req.url, { method: req.method, headers: { 'content-type': req.headers['content-type'] ?? 'text/plain' }, dispatcher });
        res.writeHead(up.statusCode, { 'content-type': up.headers['content-type'] ?? 'application/octet-stream' });
        for await (const c of up.body) res.write(c);
        res.end();
      } catch {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      }
    });
  }
  if (server) {
    server.keepAliveTimeout = 10_000;
    server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
  }
} else {
  await main();
}

function start(argv) {
  const child = spawn(process.execPath, [self, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => child.stdout.once('data', (d) => resolve({ child, port: Number(String(d).trim()) })));
}

async function cannon(port, seconds, connections) {
  const { default: autocannon } = await import('autocannon');
  const r = await autocannon({ url: `http://127.0.0.1:${port}/items`, connections, duration: seconds, pipelining: 1 });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx };
}

/** Steady requests through `port` while one backend is SIGKILLed. */
async function killUnderLoad(port, victim) {
  const { Agent, request } = await import('undici');
  const dispatcher = new Agent({ connections: 8 });
  let running = true;
  let ok = 0;
  let failed = 0;
  let lastFailAt = 0;
  let killedAt = 0;
  const reasons = [];
  const loop = async () => {
    while (running) {
      try {
        const res = await request(`http://127.0.0.1:${port}/items`, { dispatcher });
        const text = process.env.BENCH_DEBUG && res.statusCode !== 200 ? await res.body.text() : (await res.body.dump(), '');
        if (res.statusCode === 200) ok++;
        else {
          failed++;
          lastFailAt = performance.now();
          if (reasons.length < 5) reasons.push(`${res.statusCode} ${text.slice(0, 200)} at ${(lastFailAt - killedAt).toFixed(0)} ms`);
        }
      } catch (err) {
        failed++;
        lastFailAt = performance.now();
        if (reasons.length < 5) reasons.push(`${err.code ?? err.message} at ${(lastFailAt - killedAt).toFixed(0)} ms`);
      }
    }
  };
  const loops = Array.from({ length: 8 }, loop);
  await new Promise((r) => setTimeout(r, 1000));
  killedAt = performance.now();
  victim.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 2000));
  running = false;
  await Promise.all(loops);
  await dispatcher.close();
  if (process.env.BENCH_DEBUG && reasons.length) process.stderr.write(`\nfailures: ${reasons.join(', ')}\n`);
  return { ok, failed, lastFailMs: failed ? Math.max(0, lastFailAt - killedAt) : null };
}

/** A proxy of `kind` in front of `ports`: its own process; HAProxy through the demo's HaproxyFront. */
async function startProxy(kind, ports) {
  if (kind.startsWith('haproxy-')) {
    const { HaproxyFront } = await import('./haproxy.mjs');
    const front = await HaproxyFront.start(haproxyBinary, ports.map((p, i) => ({ name: `b${i}`, port: Number(p) })), { profile: kind.slice('haproxy-'.length), probePath: '/items', checkPath: '/health' });
    return { pid: front.pid, port: Number(new URL(front.url).port), stop: () => front.stop() };
  }
  const { child, port } = await start(['--proxy', kind, ...ports]);
  return { pid: child.pid, port, stop: () => child.kill('SIGKILL') };
}

async function main() {
  const seconds = Number(flag('seconds', 5));
  const connections = Number(flag('connections', 32));
  const rounds = Number(flag('rounds', 3));
  const failoverRounds = Number(flag('failover-rounds', 3));
  const backends = await Promise.all([0, 1, 2].map(() => start(['--backend'])));
  const ports = backends.map((b) => String(b.port));
  const withHaproxy = (ks) => ks.filter((k) => !k.startsWith('haproxy-') || haproxyBinary);
  const baselineDist = flag('baseline-dist', undefined);
  if (baselineDist) process.env.STEADFAST_BASELINE_DIST = path.resolve(baselineDist);
  const kinds = withHaproxy(flag('kinds', `steadfast,${baselineDist ? 'steadfast-baseline,' : ''}http-proxy,undici,dispatch,haproxy-tuned`).split(','));
  if (!haproxyBinary) console.log('haproxy not found: the HAProxy rows need it (apt-get install -y haproxy)\n');
  const proxies = Object.fromEntries(await Promise.all(kinds.map(async (k) => [k, await startProxy(k, ports)])));
  const results = Object.fromEntries(kinds.map((k) => [k, []]));
  for (const k of kinds) await cannon(proxies[k].port, 1, connections); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const k of kinds) {
      process.stderr.write(`\rbench:gateway round ${r + 1}/${rounds} ${k} …          `);
      results[k].push(await cannon(proxies[k].port, seconds, connections));
    }
  }
  process.stderr.write('\n');
  const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const row = (k) => ({ rps: med(results[k].map((x) => x.rps)), p50: med(results[k].map((x) => x.p50)), p99: med(results[k].map((x) => x.p99)), errors: results[k].reduce((s, x) => s + x.errors, 0) });
  const rows = Object.fromEntries(kinds.map((k) => [k, row(k)]));

  // CPU time each proxy process spends per request at a fixed rate (from /proc/<pid>/stat): on
  // a small machine where the load generator and the backends share the cores, throughput
  // moves with the scheduler; CPU per request is what the proxy itself costs. HAProxy's figure
  // covers all its threads (stat sums them).
  const cpuOf = (pid) => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * (1000 / 100); // clock ticks (USER_HZ 100) → ms
  };
  const cpu = Object.fromEntries(kinds.map((k) => [k, []]));
  if (existsSync('/proc/self/stat')) {
    const { default: autocannon } = await import('autocannon');
    for (let r = 0; r < 5; r++) {
      for (const k of kinds) {
        process.stderr.write(`\rbench:gateway CPU per request ${r + 1}/5 ${k} …          `);
        const pid = proxies[k].pid;
        const c0 = cpuOf(pid);
        const res = await autocannon({ url: `http://127.0.0.1:${proxies[k].port}/items`, connections: 16, duration: 3, overallRate: 3000 });
        cpu[k].push(((cpuOf(pid) - c0) * 1000) / res.requests.total);
      }
    }
    process.stderr.write('\n');
  }
  for (const k of kinds) await proxies[k].stop();
  backends.forEach((b) => b.child.kill('SIGKILL'));

  // Failover: in each round, for each proxy, fresh backends and a fresh proxy, warmed up, then
  // one backend SIGKILLed under steady load. HAProxy tuned for fast failover (as its docs
  // recommend) is the anchor; http-proxy, which has no failover, shows what failover saves.
  const failoverKinds = withHaproxy(flag('failover-kinds', 'steadfast,haproxy-tuned,haproxy-defaults,http-proxy').split(','));
  const kill = Object.fromEntries(failoverKinds.map((k) => [k, []]));
  for (let r = 0; r < failoverRounds; r++) {
    for (const k of failoverKinds) {
      const bs = await Promise.all([0, 1, 2].map(() => start(['--backend'])));
      const p = await startProxy(k, bs.map((b) => String(b.port)));
      process.stderr.write(`\rbench:gateway SIGKILL of a backend under load, round ${r + 1}/${failoverRounds}, ${k} …          `);
      await cannon(p.port, 1, 8); // warm-up, as in the throughput rounds
      kill[k].push(await killUnderLoad(p.port, bs[1].child));
      await p.stop();
      bs.forEach((b) => b.child.kill('SIGKILL'));
    }
  }
  process.stderr.write('\n');
  const killRow = (k) => {
    const xs = kill[k];
    const ok = med(xs.map((x) => x.ok));
    const failed = med(xs.map((x) => x.failed));
    const last = xs.map((x) => x.lastFailMs).filter((x) => x !== null);
    return { ok, failed, rate: med(xs.map((x) => x.failed / (x.ok + x.failed))), rps: ok / 3, failedRounds: last.length, lastMs: last.length ? med(last) : null };
  };
  const killRows = Object.fromEntries(failoverKinds.map((k) => [k, killRow(k)]));
  const failAnchor = killRows['haproxy-tuned'] ? 'haproxy-tuned' : 'http-proxy';

  const names = {
    steadfast: 'steadfast Gateway (round-robin, failover, metrics)',
    'steadfast-baseline': `steadfast Gateway, the build in ${baselineDist}`,
    'http-proxy': 'npm http-proxy 1.18 (round-robin, no failover)',
    undici: 'bare undici pass-through (round-robin)',
    dispatch: 'bare undici dispatch, no features (the floor)',
    'haproxy-tuned': 'HAProxy 2.6 tuned for fast failover (inter 100ms fall 3, retry-on all-retryable-errors, redispatch)',
    'haproxy-defaults': 'HAProxy 2.6 with common defaults (inter 2s fall 3, retries 3, redispatch)',
  };
  const lines = [
    `Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; 3 backend processes; autocannon ${connections} connections × ${seconds} s, ${rounds} interleaved rounds, medians.`,
    `Command: npm run bench:gateway${args.length ? ` -- ${args.join(' ')}` : ''} (seconds ${seconds}, connections ${connections}, rounds ${rounds}, failover rounds ${failoverRounds})`,
    '',
    '| proxy | requests/s | × http-proxy | p50 ms | p99 ms | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...kinds.map((k) => `| ${names[k] ?? k} | ${rows[k].rps.toFixed(0)} | ${(rows[k].rps / rows['http-proxy'].rps).toFixed(2)} | ${rows[k].p50} | ${rows[k].p99} | ${rows[k].errors} |`),
    ...(cpu['http-proxy']?.length
      ? [
          '',
          '| proxy | CPU µs per request at 3000 req/s (median of 5) | × http-proxy\'s efficiency |',
          '| --- | ---: | ---: |',
          ...kinds.map((k) => `| ${names[k] ?? k} | ${med(cpu[k]).toFixed(1)} | ${(med(cpu['http-proxy']) / med(cpu[k])).toFixed(2)} |`),
        ]
      : []),
    '',
    `SIGKILL of one of 3 backends under load: 8 closed-loop clients, 1 s before the kill and 2 s after; ${failoverRounds} interleaved rounds, medians; throughput is answered requests per second over the 3 s window.`,
    '',
    `| proxy | requests ok | req/s in the window | × ${failAnchor === 'haproxy-tuned' ? 'tuned HAProxy' : 'http-proxy'} | failed | error rate | rounds with a failure | kill → last failure |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...failoverKinds.map((k) => {
      const x = killRows[k];
      return `| ${names[k]} | ${x.ok} | ${x.rps.toFixed(0)} | ${killRows[failAnchor] ? (x.rps / killRows[failAnchor].rps).toFixed(2) : '—'} | ${x.failed} | ${(x.rate * 100).toFixed(2)} % | ${x.failedRounds} of ${failoverRounds} | ${x.lastMs === null ? 'none failed' : `${x.lastMs.toFixed(0)} ms`} |`;
    }),
  ];
  console.log(lines.join('\n'));
}
