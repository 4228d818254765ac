#!/usr/bin/env node
// Sequential awaited calls through each stack, ns per call, measured interleaved in several
// fresh processes; plus heap bytes per breaker. Two functions: `async () => 42`, which ignores
// its signal (so no timeout needs an AbortSignal), and one that reads `signal` as real callers do
// (`fetch(url, { signal })`), against cockatiel with `abortOnReturn: false` — its fair setting:
// steadfast's signal does not abort when the call returns either.
// Usage: npm run bench:policy [-- --processes 5 --calls 200000 --json out.json]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import os from 'node:os';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};

if (args[0] === '--child') {
  await child(Number(flag('calls', 200000)), Number(flag('rounds', 5)));
} else {
  parent();
}

async function stacks() {
  const s = await import('../dist/index.js');
  const c = await import('cockatiel');
  const { default: CircuitBreaker } = await import('opossum');
  const fn = async () => 42;
  const fnSig = async ({ signal }) => {
    if (signal.aborted) throw signal.reason;
    return 42;
  };
  const neverAborted = new AbortController().signal;

  const ours = s.wrap(s.retry({ maxAttempts: 3 }), s.circuitBreaker({ breaker: s.consecutiveBreaker(5) }), s.timeout(1000, { strategy: 'cooperative' }));
  const ourBreaker = s.circuitBreaker({ breaker: s.consecutiveBreaker(5) });
  const ourTimeout = s.timeout(1000);
  const ourRetry = s.retry({ maxAttempts: 3 });
  const ourAggressive = s.timeout(1000, { strategy: 'aggressive' });

  const theirs = c.wrap(
    c.retry(c.handleAll, { maxAttempts: 3 }),
    c.circuitBreaker(c.handleAll, { halfOpenAfter: 10_000, breaker: new c.ConsecutiveBreaker(5) }),
    c.timeout(1000, c.TimeoutStrategy.Cooperative),
  );
  const theirBreaker = c.circuitBreaker(c.handleAll, { halfOpenAfter: 10_000, breaker: new c.ConsecutiveBreaker(5) });
  const theirTimeout = c.timeout(1000, c.TimeoutStrategy.Cooperative);
  const theirsFair = c.wrap(
    c.retry(c.handleAll, { maxAttempts: 3 }),
    c.circuitBreaker(c.handleAll, { halfOpenAfter: 10_000, breaker: new c.ConsecutiveBreaker(5) }),
    c.timeout(1000, { strategy: c.TimeoutStrategy.Cooperative, abortOnReturn: false }),
  );
  const theirTimeoutFair = c.timeout(1000, { strategy: c.TimeoutStrategy.Cooperative, abortOnReturn: false });
  const opossum = new CircuitBreaker(fn, { timeout: 1000 });
  // The same stack with its figures exported to prom-client and OpenTelemetry (policyMetrics reads
  // the policies' stats when collected, so the call path should cost the same).
  const exported = s.wrap(s.retry({ maxAttempts: 3 }), s.circuitBreaker({ breaker: s.consecutiveBreaker(5) }), s.timeout(1000, { strategy: 'cooperative' }));
  const { Registry } = await import('prom-client');
  const { MeterProvider } = await import('@opentelemetry/sdk-metrics');
  const meterProvider = new MeterProvider();
  s.policyMetrics({ registry: new Registry(), meter: meterProvider.getMeter('bench') }).add('db', exported);

  return [
    ['bare async function', () => fn()],
    ['steadfast wrap(retry 3, breaker consecutive 5, timeout 1000 cooperative)', () => ours.execute(fn)],
    ['cockatiel 3.2.1 wrap(retry 3, breaker consecutive 5, timeout 1000 cooperative)', () => theirs.execute(fn)],
    ['steadfast full stack, exported with policyMetrics (prom-client + OpenTelemetry)', () => exported.execute(fn)],
    ['opossum 9.0.0 CircuitBreaker(fn, { timeout: 1000 })', () => opossum.fire()],
    ['steadfast circuitBreaker alone', () => ourBreaker.execute(fn)],
    ['cockatiel circuitBreaker alone', () => theirBreaker.execute(fn)],
    ['steadfast timeout(1000) cooperative alone', () => ourTimeout.execute(fn)],
    ['steadfast timeout(1000) aggressive alone', () => ourAggressive.execute(fn)],
    ['cockatiel timeout(1000) cooperative alone', () => theirTimeout.execute(fn)],
    ['steadfast retry(3) alone', () => ourRetry.execute(fn)],
    ['bare async function reading its signal', () => fnSig({ signal: neverAborted })],
    ['steadfast full stack, fn reads its signal', () => ours.execute(fnSig)],
    ['cockatiel 3.2.1 full stack (abortOnReturn: false), fn reads its signal', () => theirsFair.execute(fnSig)],
    ['steadfast timeout(1000) alone, fn reads its signal', () => ourTimeout.execute(fnSig)],
    ['cockatiel timeout(1000) alone (abortOnReturn: false), fn reads its signal', () => theirTimeoutFair.execute(fnSig)],
    ['__shutdown', () => opossum.shutdown()],
  ];
}

async function measure(call, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await call();
  return Number(process.hrtime.bigint() - t0) / n;
}

async function child(calls, rounds) {
  const list = await stacks();
  const shutdown = list.pop();
  const results = Object.fromEntries(list.map(([name]) => [name, []]));
  for (const [, call] of list) await measure(call, Math.min(calls, 20000)); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const [name, call] of list) results[name].push(await measure(call, calls));
  }
  shutdown[1]();
  const out = {};
  for (const [name, xs] of Object.entries(results)) out[name] = median(xs);
  out.__memory = await memory();
  process.stdout.write(JSON.stringify(out));
}

async function memory() {
  const s = await import('../dist/index.js');
  const c = await import('cockatiel');
  const { default: CircuitBreaker } = await import('opossum');
  const n = 10000;
  const perInstance = (make) => {
    globalThis.gc();
    const before = process.memoryUsage().heapUsed;
    const keep = new Array(n);
    for (let i = 0; i < n; i++) keep[i] = make();
    globalThis.gc();
    const after = process.memoryUsage().heapUsed;
    const bytes = (after - before) / n;
    keep.forEach((b) => b.shutdown?.());
    return bytes;
  };
  const fn = async () => 42;
  const fnSig = async ({ signal }) => {
    if (signal.aborted) throw signal.reason;
    return 42;
  };
  const neverAborted = new AbortController().signal;
  return {
    'steadfast circuitBreaker(consecutiveBreaker(5))': perInstance(() => s.circuitBreaker({ breaker: s.consecutiveBreaker(5) })),
    'steadfast circuitBreaker(samplingBreaker())': perInstance(() => s.circuitBreaker({ breaker: s.samplingBreaker() })),
    'cockatiel circuitBreaker(ConsecutiveBreaker(5))': perInstance(() => c.circuitBreaker(c.handleAll, { halfOpenAfter: 10_000, breaker: new c.ConsecutiveBreaker(5) })),
    'opossum CircuitBreaker(fn, { timeout: 1000 })': perInstance(() => new CircuitBreaker(fn, { timeout: 1000 })),
  };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function parent() {
  const processes = Number(flag('processes', 5));
  const calls = Number(flag('calls', 200000));
  const rounds = Number(flag('rounds', 5));
  const self = fileURLToPath(import.meta.url);
  const runs = [];
  for (let p = 0; p < processes; p++) {
    process.stderr.write(`\rbench:policy process ${p + 1}/${processes} …`);
    const r = spawnSync(process.execPath, ['--expose-gc', self, '--child', '--calls', String(calls), '--rounds', String(rounds)], { encoding: 'utf8' });
    if (r.status !== 0) {
      process.stderr.write(`\nchild failed (exit ${r.status}):\n${r.stderr}\n`);
      process.exit(1);
    }
    runs.push(JSON.parse(r.stdout));
  }
  process.stderr.write('\n');
  const names = Object.keys(runs[0]).filter((k) => k !== '__memory');
  const ns = Object.fromEntries(names.map((n) => [n, median(runs.map((r) => r[n]))]));
  const bare = ns['bare async function'];
  const lines = [];
  lines.push(`Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; ${processes} fresh processes × ${rounds} interleaved rounds × ${calls} sequential awaited calls; medians.`);
  lines.push('');
  lines.push('| stack | ns/call | × bare call |');
  lines.push('| --- | ---: | ---: |');
  for (const n of names) lines.push(`| ${n} | ${ns[n].toFixed(0)} | ${(ns[n] / bare).toFixed(2)} |`);
  const cockatielFull = ns['cockatiel 3.2.1 wrap(retry 3, breaker consecutive 5, timeout 1000 cooperative)'];
  const oursFull = ns['steadfast wrap(retry 3, breaker consecutive 5, timeout 1000 cooperative)'];
  const opossum = ns['opossum 9.0.0 CircuitBreaker(fn, { timeout: 1000 })'];
  lines.push('');
  lines.push(`steadfast full stack: ${(cockatielFull / oursFull).toFixed(1)}× faster than cockatiel's same stack, ${(opossum / oursFull).toFixed(1)}× faster than opossum (which does no retry).`);
  const oursSig = ns['steadfast full stack, fn reads its signal'];
  const theirsSig = ns['cockatiel 3.2.1 full stack (abortOnReturn: false), fn reads its signal'];
  lines.push(`With a function that reads its signal: steadfast's full stack ${(oursSig / bare).toFixed(1)}× a bare call, ${(theirsSig / oursSig).toFixed(1)}× faster than cockatiel's (abortOnReturn: false).`);
  const oursExported = ns['steadfast full stack, exported with policyMetrics (prom-client + OpenTelemetry)'];
  lines.push(`Exporting the full stack's figures (policyMetrics to prom-client and OpenTelemetry): ${(oursExported / oursFull).toFixed(2)}× the same stack without (1.00 = no cost; the figures are read when collected).`);
  lines.push(`Command: npm run bench:policy -- --processes ${processes} --calls ${calls} --rounds ${rounds}`);
  lines.push('');
  lines.push('| heap bytes per breaker instance (10 000 instances, after gc) | bytes |');
  lines.push('| --- | ---: |');
  const memNames = Object.keys(runs[0].__memory);
  for (const m of memNames) lines.push(`| ${m} | ${median(runs.map((r) => r.__memory[m])).toFixed(0)} |`);
  console.log(lines.join('\n'));
  const json = flag('json', undefined);
  if (json) writeFileSync(json, JSON.stringify({ ns, runs }, null, 2));
}
