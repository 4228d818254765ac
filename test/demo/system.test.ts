/// <reference lib="dom" />
/**
 * The seed's web app end to end, as a user runs it: `steadfast demo` (the CLI, bundled from
 * src) with real processes, SIGKILL and SIGSTOP on a seeded schedule, the dashboard opened in a
 * real headless Chromium while it runs, and the report checked at the end.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CapacityResult, DemoResult } from '../../src/demo/system.js';
import { bundleFixture, Lines } from '../support/bundle.js';
import { networkHostsMissing } from '../../src/chaos/netns.js';
import { CHROMIUM, describeNeeding, ETCD, findServer, PROMTOOL, REDIS, startEtcd, startRedis, type RunningServer } from '../support/servers.js';

const ARTIFACTS = path.join(process.cwd(), 'test-artifacts');

let cli: { file: string; cleanup: () => void };
let work: string;
beforeAll(async () => {
  cli = await bundleFixture(path.join(process.cwd(), 'src/cli/index.ts'));
  work = mkdtempSync(path.join(os.tmpdir(), 'steadfast-demo-test-'));
  mkdirSync(ARTIFACTS, { recursive: true });
}, 60_000);
afterAll(() => {
  cli?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

function runCli(args: string[]): { child: ChildProcess; lines: Lines; exit: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [cli.file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = new Lines();
  let err = '';
  child.stdout!.on('data', (c: Buffer) => lines.feed(c));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, lines, exit, stderr: () => err };
}

/** Runs `steadfast demo … --json <file> --quiet` to its exit (killed if the test fails first) and reads its result. */
async function runDemo(name: string, args: string[]): Promise<DemoResult> {
  const json = path.join(ARTIFACTS, `demo-${name}.json`); // kept, so a failed run can be read
  const run = runCli(['demo', ...args, '--json', json, '--quiet']);
  try {
    expect(await run.exit, run.stderr()).toBe(0);
  } finally {
    if (run.child.exitCode === null) run.child.kill('SIGKILL');
  }
  return JSON.parse(readFileSync(json, 'utf8')) as DemoResult;
}

/** What the issue asks of every run: nothing acknowledged lost, every fault an incident that healed, availability ≥ 99.9 %. */
function checkResult(result: DemoResult, expectedMinFaults: number): void {
  expect(result.history.acknowledged).toBeGreaterThan(100);
  expect(result.lostWrites).toBe(0);
  expect(result.history.valid).toBe(true);
  expect(result.faults.length).toBeGreaterThanOrEqual(expectedMinFaults);
  // every injected fault appears as an incident, with its target and kind
  expect(result.report.incidents.map((i) => `${i.target}/${i.kind}`)).toEqual(result.faults.map((f) => `${f.target}/${f.kind}`));
  // every faulted process came back healthy (restored), and all are healthy at the end
  for (const i of result.report.incidents) expect(i.timeToRestoreMs, `incident #${i.id} (${i.kind} ${i.target}) never restored`).not.toBeNull();
  for (const p of result.processes) expect(p.healthyAtEnd, `${p.name} not healthy at the end`).toBe(true);
  for (const f of result.faults.filter((x) => x.kind === 'kill')) expect(result.processes.find((p) => p.name === f.target)!.restarts).toBeGreaterThan(0);
  // every fault was detected by the registry
  for (const i of result.report.incidents) expect(i.timeToDetectMs, `incident #${i.id} never detected`).not.toBeNull();
  expect(result.report.requestAvailability).toBeGreaterThanOrEqual(0.999);
  expect(result.leadership.changes.length).toBeGreaterThanOrEqual(1);
  // Fencing tokens only go up, also across restarts of the registry that hands them out. A claim
  // with a lower token is stale (a replica paused after it won): kept apart, and rare — one per
  // fault at most; a registry that handed out tokens again from 1 would make every later one stale.
  const tokens = result.leadership.changes.map((c) => c.token);
  for (const [k, t] of tokens.entries()) if (k > 0) expect(t, `token ${k} after ${tokens[k - 1]}`).toBeGreaterThan(tokens[k - 1]!);
  expect(result.leadership.staleClaims!.length).toBeLessThanOrEqual(result.faults.length);
  // Every db node's maintenance writes, across its restarts: none accepted with a stale token.
  expect(result.fencing!.valid, JSON.stringify(result.fencing!.violations.slice(0, 3))).toBe(true);
  expect(result.fencing!.writes).toBeGreaterThan(0);
  // Each db node's maintenance record, a register across its restarts: linearizable.
  expect(result.linearizable!.valid, JSON.stringify(result.linearizable!.counterexample)).toBe(true);
  expect(result.linearizable!.reads).toBeGreaterThan(0);
  // Retries stay within the budget (20 % of requests plus 10 a second) and the figures add up.
  const g = result.amplification.gateway;
  expect(g.attempts).toBeLessThanOrEqual(g.requests + g.retries); // less: a request with no upstream to try makes none
  expect(g.attempts).toBeGreaterThan(g.retries);
  expect(g.retries).toBeLessThanOrEqual(0.2 * g.requests + 10 * (result.report.observedMs / 1000 + 60) + 10);
  expect(result.amplification.db.requests).toBeGreaterThanOrEqual(result.amplification.db.calls);
  expect(result.load.goodputPerSec).toBeGreaterThan(0);
  expect(result.load.servedMs.p99).toBeGreaterThan(0);
  // Every tier's admission is counted over the measured run: nodes let the traffic in, and no count runs backwards across a restart.
  const sh = result.shedding;
  expect(sh.gateway).toBeGreaterThanOrEqual(0);
  expect(sh.gateway).toBeLessThanOrEqual(result.load.sent);
  for (const t of [sh.web, sh.db]) {
    expect(t.admitted).toBeGreaterThan(0);
    for (const k of ['shedByLimit', 'shedByHealth', 'expired'] as const) expect(t[k]).toBeGreaterThanOrEqual(0);
  }
  // CPU time per tier over the measured run, in ms: every tier worked, and no more cores were busy than the machine has (with room for the 1 s polls at either end).
  const c = result.cpu;
  expect(c.requests).toBe(result.report.requests);
  for (const u of [c.db, c.web, c.supervisor]) {
    expect(u.cpuMs).toBeGreaterThan(0);
    expect(u.perRequestMs!).toBeCloseTo(u.cpuMs / c.requests, 6);
  }
  if (c.registry) expect(c.registry.cpuMs).toBeGreaterThan(0);
  expect(c.db.cores + c.web.cores + c.supervisor.cores + (c.registry?.cores ?? 0)).toBeLessThanOrEqual(2 * os.availableParallelism());
}

describeNeeding(CHROMIUM, 'steadfast demo (embedded registry, file checkpoints) with chaos, and its dashboard in Chromium', () => {
  it('loses no acknowledged write, heals every fault, stays ≥ 99.9 % available; the dashboard shows it live', async () => {
    const json = path.join(ARTIFACTS, 'demo.json');
    const html = path.join(ARTIFACTS, 'demo.html');
    // Chromium starts first (its start-up is CPU-heavy) and at the lowest CPU priority: the
    // observer must not starve the system it observes — CI machines may have two cores, where a
    // user's browser would run on a laptop of its own.
    const niceChromium = path.join(work, 'chromium-nice.sh');
    writeFileSync(niceChromium, `#!/bin/sh\nexec nice -n 19 ${findServer(CHROMIUM)!} "$@"\n`, { mode: 0o755 });
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: niceChromium,
      headless: true, // and a fresh temporary profile (playwright's default for launch())
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const run = runCli(['demo', '--duration', '30', '--seed', '38', '--rate', '300', '--fault-interval', '3000', '--json', json, '--html', html]);
    try {
      const dashboard = (await run.lines.waitFor(/dashboard\s+(http:\S+)/, 60_000))[1]!;
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
        await page.goto(dashboard);
        // Nine processes with their health and the load's client, the ring with three owners, a live chart, the leader.
        await page.waitForFunction(() => document.querySelectorAll('#processes tbody tr').length === 10, undefined, { timeout: 15_000 });
        await page.waitForFunction(() => document.querySelector('#chart-throughput path') !== null, undefined, { timeout: 15_000 });
        await page.waitForFunction(() => /^web-\d \(token \d+\)$/.test(document.getElementById('leader')?.textContent ?? ''), undefined, { timeout: 15_000 });
        await page.waitForFunction(() => document.querySelectorAll('#incidents li:not(.muted)').length >= 2, undefined, { timeout: 20_000 });
        const view = await page.evaluate(() => ({
          processes: Array.from(document.querySelectorAll('#processes tbody tr')).map((tr) => tr.getAttribute('data-process')),
          clientPid: Number(document.querySelector('#processes tr[data-process="client"] td:nth-child(3)')?.textContent),
          ring: document.querySelectorAll('#ring path').length,
          legend: document.getElementById('ring')!.textContent,
          requests: Number(document.getElementById('requests')!.textContent),
          incidents: Array.from(document.querySelectorAll('#incidents li')).map((li) => li.textContent),
          tiers: Array.from(document.querySelectorAll('#tiers tbody tr')).map((tr) => Array.from(tr.children).map((td) => td.textContent)),
        }));
        expect(view.processes).toEqual(['registry', 'db-1', 'db-2', 'db-3', 'web-1', 'web-2', 'web-3', 'gateway-1', 'gateway-2', 'client']);
        expect(view.clientPid).toBeGreaterThan(1);
        expect(view.ring).toBe(180);
        for (const n of ['db-1', 'db-2', 'db-3']) expect(view.legend).toContain(n);
        expect(view.requests).toBeGreaterThan(100);
        expect(view.incidents.join('\n')).toMatch(/#1 (kill|pause) (registry|(db|web|gateway)-\d)/);
        // One row per tier: its processes, and faults that add up to the incidents shown.
        expect(view.tiers.map((r) => [r[0], r[1]])).toEqual([['registry', '1'], ['db', '3'], ['web', '3'], ['gateway', '2']]);
        expect(view.tiers.reduce((n, r) => n + Number(r[2]), 0)).toBe(view.incidents.length);
        await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
      } finally {
        await browser.close();
      }
      expect(await run.exit).toBe(0);
      const out = run.lines.all.join('\n');
      writeFileSync(path.join(ARTIFACTS, 'demo.log'), out + '\n');
      expect(out).toMatch(/writes\s+\d+ acknowledged, 0 lost/);
      expect(out).toMatch(/cpu per request +db tier \d+\.\d+ ms \(\d+\.\d+ cores\), web tier \d+\.\d+ ms .*; \d+\.\d+ of \d+ cores busy/);
      expect(out).toMatch(/shed inside the system +gateways \d+; web \d+ of \d+ \(\d+ by the limit, \d+ on health\), \d+ past deadline; db \d+ of \d+/);
      expect(out).toMatch(/documented defaults +\(not measured here\) HAProxy ~6 s · Kubernetes readiness ~30 s · Consul ~10 s/);
      const result = JSON.parse(readFileSync(json, 'utf8')) as DemoResult;
      checkResult(result, 4);
      // No process is exempt: this seed faults the registry, both gateways one after the other, and a db and a web node.
      const targets = result.faults.map((f) => f.target);
      for (const t of ['registry', 'gateway-1', 'gateway-2']) expect(targets).toContain(t);
      expect(new Set(targets.map((t) => t.split('-')[0]))).toEqual(new Set(['registry', 'db', 'web', 'gateway']));
      expect(result.cpu.registry!.cpuMs).toBeGreaterThan(0);
      expect(result.load.failover!.retries).toBeGreaterThan(0); // the client moved requests off a faulted gateway
      expect(Object.values(result.load.failover!.answeredBy).every((n) => n > 0)).toBe(true);
      expect(result.cpu.gateway.cpuMs).toBeGreaterThan(0);
      expect(readFileSync(html, 'utf8')).toContain('<svg');
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
      if (run.child.exitCode !== null || run.child.signalCode !== null) {
        // nothing to do
      }
    }
    if (run.stderr()) console.warn(run.stderr());
  }, 150_000);
});

describeNeeding(REDIS, 'steadfast demo on Redis checkpoints and an etcd registry', () => {
  let redis: RunningServer | undefined;
  let etcd: RunningServer | undefined;
  beforeAll(async () => {
    if (!findServer(ETCD)) return;
    redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always']);
    etcd = await startEtcd();
  }, 60_000);
  afterAll(async () => {
    await redis?.stop();
    await etcd?.stop();
  });

  it('with --max-concurrent-faults 2 faults two processes of different groups at once (db, web, gateway), never two of a group, and keeps the same promises', async () => {
    // Pauses last 1500 ms and come every 750–1250 ms: the next fault falls due while one is open,
    // so it must go to the other group (a slower machine only keeps incidents open longer).
    const result = await runDemo('concurrent', ['--duration', '20', '--seed', '5', '--rate', '200', '--faults', 'pause', '--fault-interval', '1000', '--max-concurrent-faults', '2']);
    checkResult(result, 6);
    expect(result.config.maxConcurrentFaults).toBe(2);
    const group = (target: string): string => target.split('-')[0]!;
    const spans = result.report.incidents.map((i) => ({ group: group(i.target), from: i.injectedAt, to: i.restoredAt! }));
    const overlapping = (a: (typeof spans)[number], b: (typeof spans)[number]): boolean => a.from < b.to && b.from < a.to;
    let together = 0;
    for (const [k, a] of spans.entries()) {
      for (const b of spans.slice(k + 1)) {
        if (!overlapping(a, b)) continue;
        expect(a.group, `two faults open at once in the ${a.group} group`).not.toBe(b.group);
        together++;
      }
    }
    expect(together).toBeGreaterThan(0);
  }, 120_000);

  it('runs the same system with --store redis:// --registry etcd:// and keeps the same promises', async (ctx) => {
    if (!etcd) {
      if (process.env.CI === 'true') throw new Error("etcd not found: install the Debian package 'etcd-server'");
      ctx.skip();
      return;
    }
    const etcdHost = new URL(etcd.url).host;
    const result = await runDemo('redis-etcd', ['--duration', '20', '--seed', '11', '--rate', '80', '--fault-interval', '3000', '--store', redis!.url, '--registry', `etcd://${etcdHost}`]);
    checkResult(result, 3);
    expect(result.config.store).toBe(redis!.url);
    // the checkpoints really are in Redis
    const { Redis } = await import('ioredis');
    const client = new Redis(redis!.url);
    try {
      const keys = await client.keys('steadfast:demo:*');
      expect(keys.length).toBeGreaterThan(0);
    } finally {
      client.disconnect();
    }
  }, 150_000);
});

describeNeeding(ETCD, 'steadfast demo on an etcd cluster of its own (--registry etcd-cluster)', () => {
  it('faults the etcd members too (a kill and a pause here), and keeps the same promises', async () => {
    const result = await runDemo('etcd-cluster', ['--duration', '20', '--seed', '19', '--rate', '200', '--fault-interval', '3000', '--registry', 'etcd-cluster']);
    checkResult(result, 3);
    expect(result.processes.map((p) => p.name).slice(0, 3)).toEqual(['etcd-1', 'etcd-2', 'etcd-3']);
    const members = result.faults.filter((f) => f.target.startsWith('etcd-'));
    expect(members.map((f) => f.kind)).toEqual(expect.arrayContaining(['kill', 'pause']));
    expect(result.cpu.registry!.cpuMs).toBeGreaterThan(0); // the members' CPU, from /proc
  }, 150_000);
});

describeNeeding(PROMTOOL, 'steadfast demo: every process serves /metrics, found through the registry', () => {
  it('lists every process in the Consul catalog with meta metrics_path, as a Prometheus Consul discovery reads it, and each scrape passes promtool check metrics', async () => {
    const run = runCli(['demo', '--duration', '12', '--rate', '100', '--no-chaos']);
    try {
      const registry = (await run.lines.waitFor(/^\s+registry\s+(http:\/\/\S+?)\/v1\//, 60_000))[1]!;
      // What Prometheus' consul_sd_configs does: the services from the catalog, then each
      // service's instances (address, port, meta); the target's path from the meta, relabelled.
      const services = Object.keys((await (await fetch(`${registry}/v1/catalog/services`)).json()) as Record<string, string[]>).sort();
      expect(services).toEqual(['db', 'gateway', 'registry', 'web']);
      const targets: { id: string; url: string }[] = [];
      for (const service of services) {
        // Prometheus lists every instance, healthy or not (its health is the label __meta_consul_health).
        const list = (await (await fetch(`${registry}/v1/health/service/${service}`)).json()) as { Node: { Address: string }; Service: { ID: string; Address: string; Port: number; Meta: Record<string, string> } }[];
        for (const h of list) targets.push({ id: h.Service.ID, url: `http://${h.Service.Address || h.Node.Address}:${h.Service.Port}${h.Service.Meta.metrics_path}` });
      }
      expect(targets.map((t) => t.id).sort()).toEqual(['db-1', 'db-2', 'db-3', 'gateway-1', 'gateway-2', 'registry', 'web-1', 'web-2', 'web-3']);
      await new Promise((r) => setTimeout(r, 2000)); // some load through every tier first
      const own: Record<string, RegExp> = {
        db: /^steadfast_demo_requests_total\{code="200",role="db"\} [1-9]/m,
        web: /^steadfast_demo_requests_total\{code="200",role="web"\} [1-9]/m,
        gateway: /^steadfast_gateway_requests_total\{route="[^"]+",code="200",role="gateway"\} [1-9]/m,
        registry: /^steadfast_registry_instances\{status="passing",role="registry"\} \d$/m,
      };
      for (const t of targets) {
        const res = await fetch(t.url);
        expect(res.status, t.url).toBe(200);
        expect(res.headers.get('content-type'), t.url).toMatch(/^text\/plain; version=0\.0\.4/);
        const text = await res.text();
        expect(text, t.id).toMatch(/^process_cpu_seconds_total\{role="\w+"\} \d/m);
        expect(text, t.id).toMatch(own[t.id.split('-')[0]!]!);
        const check = spawnSync(findServer(PROMTOOL)!, ['check', 'metrics'], { input: text, encoding: 'utf8' });
        expect(check.status, `${t.id}: promtool check metrics: ${check.stdout}${check.stderr}`).toBe(0);
      }
      expect(await run.exit).toBe(0);
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    }
  }, 90_000);
});

describe('steadfast demo --find-capacity', () => {
  it('runs a fresh fault-free system per rate, in order, until one misses a bound, and reports each step with its CPU per request', async () => {
    const json = path.join(ARTIFACTS, 'demo-capacity.json');
    const run = runCli(['demo', '--find-capacity', '--rates', '50,100', '--step', '2', '--json', json, '--quiet']);
    try {
      expect(await run.exit, run.stderr()).toBe(0);
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    }
    const r = JSON.parse(readFileSync(json, 'utf8')) as CapacityResult;
    expect(r.bounds).toEqual({ p99Ms: 50, answered: 0.9999 });
    // Speed is the benchmark's to judge: here, that the search is consistent with its steps.
    expect(r.steps.map((s) => s.rate)).toEqual([50, 100].slice(0, r.steps.length));
    for (const [i, s] of r.steps.entries()) {
      expect(s.holds).toBe(s.p99Ms <= 50 && s.answered >= 0.9999);
      if (i < r.steps.length - 1) expect(s.holds).toBe(true);
      expect(s.lostWrites).toBe(0);
      expect(s.requests).toBeGreaterThan(0);
      for (const part of ['db', 'web', 'gateway', 'supervisor']) expect(s.cpuPerRequestMs[part], part).toBeGreaterThan(0);
      // read from /proc in 10 ms ticks: a short, light step may round to none
      for (const part of ['registry', 'client']) expect(s.cpuPerRequestMs[part], part).toBeGreaterThanOrEqual(0);
    }
    expect(r.capacity).toBe(r.steps.filter((s) => s.holds).at(-1)?.rate ?? null);
    expect(run.lines.all.join('\n')).toMatch(/capacity {2,}(\d+ req\/s|below 50 req\/s)/);
  }, 120_000);
});

describe('steadfast demo with heartbeats judged by φ accrual (--detector phi)', () => {
  it('detects and restores every killed process, and loses no write', async () => {
    const result = await runDemo('phi', ['--duration', '16', '--seed', '9', '--rate', '100', '--faults', 'kill', '--detector', 'phi']);
    expect((result.config as { detector?: string }).detector).toBe('phi');
    expect(result.faults.length).toBeGreaterThanOrEqual(2);
    for (const i of result.report.incidents) {
      expect(i.timeToDetectMs, `incident #${i.id} never detected`).not.toBeNull();
      expect(i.timeToRestoreMs, `incident #${i.id} never restored`).not.toBeNull();
    }
    expect(result.lostWrites).toBe(0);
    expect(result.fencing!.valid).toBe(true);
    for (const p of result.processes) expect(p.healthyAtEnd).toBe(true);
  }, 120_000);
});

const netnsMissing = networkHostsMissing();
if (netnsMissing && process.env.CI) throw new Error(`the demo's network-fault test cannot make namespaces here: ${netnsMissing} (.ci/run runs as root and installs iptables)`);
// Intended: outside CI a machine without root or iptables runs every other suite; the warning
// names what is missing, and under CI=true (root, iptables installed by .ci/run) it is a failure.
if (netnsMissing) console.warn(`skipping the demo's network-fault test: ${netnsMissing}`);

describe.skipIf(netnsMissing !== undefined)('steadfast demo in network namespaces, with partitions, clock skew and kills (--faults partition,skew,kill)', () => {
  it('isolates db nodes, cuts the leader from the registry, splits a minority off and skews the leader’s clock: no acknowledged write lost, no stale-token write accepted, each db node’s maintenance record linearizable, ≥ 99.9 % answered, every namespace removed', async () => {
    const result = await runDemo('network', ['--duration', '36', '--seed', '3', '--rate', '300', '--faults', 'partition,skew,kill', '--fault-interval', '2500']);
    expect(result.network!.hosts).toBe('namespaces');
    const net = result.network!.faults;
    for (const f of net) {
      expect(f.error, f.label).toBeUndefined();
      expect(f.healedAt, `${f.label} never healed`).toBeGreaterThan(f.at);
    }
    const kinds = new Set(net.map((f) => f.kind));
    expect(kinds.has('partition')).toBe(true);
    expect(kinds.has('skew')).toBe(true);
    expect(result.faults.some((f) => f.kind === 'kill')).toBe(true);
    // A partition takes its targets out of the registry's healthy set (they cannot heartbeat), and they come back once healed.
    const incidents = result.report.incidents;
    for (const i of incidents.filter((x) => x.kind === 'partition')) expect(i.timeToDetectMs, `partition of ${i.target} never detected`).not.toBeNull();
    for (const i of incidents) expect(i.timeToRestoreMs, `incident #${i.id} (${i.kind} ${i.target}) never restored`).not.toBeNull();
    expect(incidents.length).toBe(result.faults.length + net.reduce((n, f) => n + f.targets.length, 0));
    // The report's row per kind adds up to the incidents.
    expect(result.byKind!.reduce((n, k) => n + k.incidents, 0)).toBe(incidents.length);
    // The checkers: the set (every acknowledged write read back) and fencing.
    expect(result.history.acknowledged).toBeGreaterThan(100);
    expect(result.lostWrites).toBe(0);
    expect(result.history.valid).toBe(true);
    expect(result.fencing!.valid, JSON.stringify(result.fencing!.violations.slice(0, 3))).toBe(true);
    expect(result.fencing!.writes).toBeGreaterThan(0);
    expect(result.linearizable!.valid, JSON.stringify(result.linearizable!.counterexample)).toBe(true);
    expect(result.linearizable!.writes).toBeGreaterThan(0);
    expect(result.report.requestAvailability).toBeGreaterThanOrEqual(0.999);
    for (const p of result.processes) expect(p.healthyAtEnd, `${p.name} not healthy at the end`).toBe(true);
    // Nothing of the run's network is left: no namespace, no link.
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => /^steadfast-/.test(l));
    const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => /^\d+: sf\d+(br|h\d+|p\d+)[@:]/.test(l));
    expect([...left, ...links]).toEqual([]);
  }, 150_000);
});

describe('steadfast demo with rolling restarts (--faults restart)', () => {
  it('restarts every node gracefully in turn, fails no request and loses no write', async () => {
    const result = await runDemo('restart', ['--duration', '20', '--seed', '5', '--rate', '100', '--faults', 'restart', '--fault-interval', '1500']);
    expect(result.faults.length).toBeGreaterThanOrEqual(3);
    expect(new Set(result.faults.map((f) => f.kind))).toEqual(new Set(['restart']));
    // Node after node, in order (db-1, db-2, db-3, web-1, …).
    const names = result.processes.map((p) => p.name);
    expect(result.faults.map((f) => f.target)).toEqual(result.faults.map((_f, i) => names[i % names.length]));
    expect(result.report.failedRequests).toBe(0);
    expect(result.lostWrites).toBe(0);
    expect(result.history.valid).toBe(true);
    for (const p of result.processes) expect(p.healthyAtEnd).toBe(true);
  }, 120_000);
});

describe('steadfast demo leaves nothing behind', () => {
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  async function pidsOf(run: ReturnType<typeof runCli>): Promise<number[]> {
    const dashboard = (await run.lines.waitFor(/dashboard\s+(http:\S+)/, 60_000))[1]!;
    const state = (await (await fetch(new URL('state', dashboard))).json()) as { processes: { pid: number | null }[] };
    const pids = state.processes.map((p) => p.pid).filter((p): p is number => p !== null);
    expect(pids).toHaveLength(9); // the registry, 3 db, 3 web, 2 gateways
    // and the load's client, started once the system is up
    let client: number | null = null;
    await expect.poll(async () => (client = ((await (await fetch(new URL('state', dashboard))).json()) as { client: { pid: number | null } | null }).client?.pid ?? null), { timeout: 30_000, interval: 100 }).not.toBeNull();
    return [...pids, client!];
  }

  it('stops every node on Ctrl-C (SIGINT), and every node exits by itself when the supervisor is SIGKILLed', async () => {
    const a = runCli(['demo', '--duration', '60', '--quiet']);
    const pidsA = await pidsOf(a);
    a.child.kill('SIGINT');
    expect(await a.exit).toBe(130);
    for (const pid of pidsA) expect(alive(pid), `node ${pid} still running after SIGINT`).toBe(false);

    const b = runCli(['demo', '--duration', '60', '--quiet']);
    const pidsB = await pidsOf(b);
    const dataDir = (await b.lines.waitFor(/^\s+data\s+(\S+)/, 5000))[1]!;
    expect(existsSync(dataDir)).toBe(true);
    // A node that is SIGSTOPped cannot notice its parent is gone: before, it stayed stopped
    // forever as an orphan holding its port, and the data folder leaked.
    process.kill(pidsB[0]!, 'SIGSTOP');
    b.child.kill('SIGKILL');
    await b.exit;
    await expect.poll(() => pidsB.filter(alive), { timeout: 10_000, interval: 100 }).toEqual([]);
    await expect.poll(() => existsSync(dataDir), { timeout: 10_000, interval: 100 }).toBe(false);
  }, 120_000);

  it('removes, on the next start, a data folder whose supervisor and reaper were both killed, with any node left on it', async () => {
    const { sweepDemoLeftovers, DEMO_DIR_PREFIX, claimDemoDir } = await import('../../src/demo/leftovers.js');
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'steadfast-sweep-'));
    try {
      const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
      const left = path.join(tmp, `${DEMO_DIR_PREFIX}old`);
      mkdirSync(left);
      writeFileSync(path.join(left, 'supervisor.pid'), String(dead));
      // A stopped stand-in for a demo node of that run: its command line says demo-node, its environment names the folder.
      const node = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'demo-node'], { env: { ...process.env, STEADFAST_DEMO_NODE: JSON.stringify({ store: { dir: left } }) }, stdio: 'ignore' });
      await new Promise((r) => node.once('spawn', r));
      process.kill(node.pid!, 'SIGSTOP');
      const live = path.join(tmp, `${DEMO_DIR_PREFIX}live`);
      mkdirSync(live);
      claimDemoDir(live); // this process: still running, so never swept
      const gone = new Promise((r) => node.once('exit', r));
      expect(sweepDemoLeftovers(tmp)).toEqual([left]);
      await gone;
      expect(existsSync(left)).toBe(false);
      expect(existsSync(live)).toBe(true);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
