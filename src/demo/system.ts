import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { Gateway } from '../balance/gateway.js';
import { LoadGenerator, type LoadRequest, type LoadResult } from '../chaos/load-generator.js';
import { loadPackage } from '../core/packages.js';
import { claimDemoDir, DEMO_DIR_PREFIX, sweepDemoLeftovers } from './leftovers.js';
import { ProcessChaos, type FaultRecord, type ProcessFault } from '../chaos/process-chaos.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { freePort, sendJson } from '../core/http.js';
import { checkBoolean, checkInteger, checkNumber, checkOneOf, checkOptions, checkString } from '../core/options.js';
import { seededRandom } from '../core/random.js';
import { HashRing } from '../hashing/ring.js';
import { AvailabilityTracker, type AvailabilityReport } from '../metrics/availability.js';
import { HistoryChecker, type HistoryResult } from '../metrics/history.js';
import { EmbeddedRegistry } from '../registry/embedded.js';
import { EtcdRegistry } from '../registry/etcd.js';
import type { Registry } from '../registry/registry.js';
import { RegistryServer } from '../registry/server.js';
import { DEMO_NODE_ENV, type DemoNodeConfig } from './config.js';
import { dashboardHtml, ringSummary, type RingView } from './dashboard.js';
import { IncidentBook, type IncidentEvent, type LeaderChange } from './incidents.js';
import { isNodeMessage } from './protocol.js';
import { readBack } from './read-back.js';
import { InvalidOptionError } from '../core/errors.js';

/** A front the load goes through instead of the gateway (see DemoOptions.front). */
export interface DemoFront {
  url: string;
  stop(): Promise<void>;
  /** When the front's own health checks marked a web replica down or up, if it reports that. */
  events?: { at: number; server: string; state: 'DOWN' | 'UP' }[];
}

export interface DemoOptions {
  /** How long the load runs. */
  durationMs: number;
  /** db nodes (N). Default 3. */
  dbNodes?: number;
  /** web replicas. Default 3. */
  webNodes?: number;
  /** Replicas per key (R). Default 2. */
  replicas?: number;
  /** Acknowledgements a write needs (W). Default: R. */
  writeQuorum?: number;
  /** Open-loop requests per second through the gateway. Default 100. */
  ratePerSec?: number;
  /** Share of requests that are writes. Default 0.3. */
  writeShare?: number;
  /** Distinct carts the load uses. Default 200. */
  carts?: number;
  /** Seed of the load mix and of the fault schedule. Default 7. */
  seed?: number;
  /** Inject faults. Default true. */
  chaos?: boolean;
  /** Mean time between faults; each wait is drawn from 0.75–1.25 × this. Default 4000. */
  faultIntervalMs?: number;
  /** Default ['kill', 'pause']. */
  faults?: ProcessFault[];
  /** How long a SIGSTOP lasts. Default 1500 (3000 with etcd, whose shortest lease is about 2 s: a shorter pause goes unseen). */
  pauseMs?: number;
  /** A killed process is restarted after this long. Default 300. */
  restartDelayMs?: number;
  /** 'embedded' (steadfast's Consul-compatible registry in this process) or etcd://host:port[,host:port…]. Default 'embedded'. */
  registry?: string;
  /** 'file' (a folder per run) or redis://host:port[/db]. Default 'file'. */
  store?: string;
  /** Where file checkpoints go. Default: a new temporary folder, removed at the end. */
  dataDir?: string;
  /** The gateway's port. Default 0 (any free port). */
  port?: number;
  /** Availability objective. Default 0.999. */
  slo?: number;
  /** TTL of each node's health check. Default 500. */
  ttlMs?: number;
  /** The command that runs a node: it is given `demo-node` and reads STEADFAST_DEMO_NODE. Default: this package's CLI. */
  nodeCommand?: string[];
  /**
   * For comparisons: send the load through another front instead of steadfast's gateway (the
   * dashboard stays on the gateway). Called once the web replicas are up, with their names and
   * ports; bench:demo starts a real HAProxy here (bench/haproxy.mjs).
   */
  front?: (webs: { name: string; port: number }[]) => Promise<DemoFront>;
}

/** The ranges the library and `steadfast demo` both accept (the CLI takes durationMs in seconds). */
export const DEMO_RANGES = Object.freeze({
  durationMs: { min: 1000, max: 86_400_000 },
  dbNodes: { min: 1, max: 9 },
  webNodes: { min: 1, max: 9 },
  replicas: { min: 1, max: 9 },
  ratePerSec: { min: 1, max: 5000 },
  writeShare: { min: 0, max: 1 },
  carts: { min: 1, max: 1_000_000 },
  seed: { min: 0, max: 2 ** 32 - 1 },
  faultIntervalMs: { min: 100, max: 86_400_000 },
  pauseMs: { min: 1, max: 600_000 },
  restartDelayMs: { min: 0, max: 600_000 },
  port: { min: 0, max: 65535 },
  slo: { min: 0.5, max: 0.999999 },
  ttlMs: { min: 100, max: 60_000 },
});

export const DEMO_DEFAULTS = Object.freeze({
  dbNodes: 3,
  webNodes: 3,
  replicas: 2,
  ratePerSec: 100,
  writeShare: 0.3,
  carts: 200,
  seed: 7,
  chaos: true,
  faultIntervalMs: 4000,
  pauseMs: 1500,
  restartDelayMs: 300,
  registry: 'embedded',
  store: 'file',
  port: 0,
  slo: 0.999,
  ttlMs: 500,
});

export interface ProcessView {
  name: string;
  role: 'db' | 'web';
  pid: number | null;
  /** passing / critical in the registry; down = not running; paused = SIGSTOPped by the chaos. */
  status: 'passing' | 'critical' | 'down' | 'paused';
  restarts: number;
  port: number;
  /** The node's own /status (items, checkpoint, leader, …), polled every second. */
  detail: Record<string, unknown> | null;
}

/** What `/_steadfast/state` answers and the dashboard draws (tests read the same). */
export interface DemoState {
  now: number;
  startedAt: number | null;
  durationMs: number;
  config: { dbNodes: number; webNodes: number; replicas: number; writeQuorum: number; ratePerSec: number; registry: string; store: string; seed: number; chaos: boolean };
  totals: { requests: number; failed: number; writes: number; acknowledged: number; degradedReads: number; availability: number };
  leader: LeaderChange | null;
  processes: ProcessView[];
  ring: RingView;
  /** The last 120 seconds, one point per second; p99 by nearest rank. */
  series: { t: number; requests: number; failed: number; p99: number }[];
  /** Faults so far; `t` is seconds since the start. */
  incidents: { id: number; target: string; kind: string; at: number; detectedMs: number | null; restoredMs: number | null; t: number }[];
  failovers: { faultId: number; from: string; to: string; ms: number }[];
}

export type { LeaderChange } from './incidents.js';

export interface DemoResult {
  config: Record<string, unknown>;
  report: AvailabilityReport;
  history: HistoryResult;
  /** Acknowledged writes that could not be read back at the end: must be 0. */
  lostWrites: number;
  processes: { name: string; restarts: number; healthyAtEnd: boolean }[];
  leadership: { changes: LeaderChange[]; failovers: { faultId: number; from: string; to: string; ms: number }[] };
  faults: FaultRecord[];
  /** With the front option: when the front's health checks marked each web replica down or up. */
  front?: { events: { at: number; server: string; state: 'DOWN' | 'UP' }[] };
  /** The first 100 failed requests: when, what, and how they failed. */
  failures: { at: number; method: string; path: string; status: number | null; error: string | null; body: string | undefined }[];
  /**
   * Reads answered 200 but from fewer than R replicas (`complete: false`): counted as available,
   * and reported here as their own figure, so a degraded answer is not hidden among full ones.
   */
  degradedReads: number;
  /** The load generator's own lag: how late requests left compared with their schedule. */
  load: { sent: number; sendLagMs: { p50: number; p99: number; max: number } };
}

export type DemoEvent =
  | { type: 'started'; gateway: string; dashboard: string; registry: string; dataDir: string | undefined }
  | IncidentEvent
  | { type: 'progress'; elapsedMs: number; requests: number; failed: number; availability: number; faults: number; leader: string | undefined }
  | { type: 'phase'; text: string };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function parseEtcd(url: string): string[] {
  const rest = url.slice('etcd://'.length);
  const hosts = rest.split(',').map((h) => h.trim().replace(/\/+$/, '')).filter(Boolean);
  if (hosts.length === 0 || hosts.some((h) => !/^[^/:]+:\d+$/.test(h))) throw new InvalidOptionError(`runDemo: registry must be etcd://host:port[,host:port…], got ${JSON.stringify(url)}`);
  return hosts.map((h) => `http://${h}`);
}

/**
 * The seed's web application, fault tolerant, on one machine: db nodes (a replicated key-value
 * service on a consistent-hash ring, checkpointing every acknowledged write), web replicas (a
 * carts API using the db through quorum reads and writes, one of them leader-elected for a
 * maintenance task with fencing tokens), a registry every node heartbeats to, a gateway in
 * front of web, and — while an open-loop load of reads and writes runs — a seeded chaos
 * schedule that SIGKILLs or SIGSTOPs one process at a time. Every request's outcome goes to an
 * AvailabilityTracker; every write to a HistoryChecker, settled by reading everything back at
 * the end.
 */
export class DemoSystem {
  readonly options: Required<Omit<DemoOptions, 'dataDir' | 'writeQuorum' | 'faults' | 'nodeCommand' | 'front'>> & { writeQuorum: number; faults: ProcessFault[]; nodeCommand: string[]; front: DemoOptions['front'] };
  private front: DemoFront | undefined;
  private readonly events = new Emitter<{ event: DemoEvent }>();
  private registry: Registry | undefined;
  private registryServer: RegistryServer | undefined;
  private gateway: Gateway | undefined;
  private chaos: ProcessChaos | undefined;
  private dataDir: string | undefined;
  private ownsDataDir = false;
  private readonly runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  private nodes: { name: string; role: 'db' | 'web'; port: number }[] = [];
  private readonly healthy = new Map<string, Set<string>>([
    ['db', new Set()],
    ['web', new Set()],
  ]);
  private readonly running = new Map<string, { pid: number | null; restarts: number; paused: boolean }>();
  private readonly detail = new Map<string, Record<string, unknown>>();
  private readonly watches: Disposable[] = [];
  private tracker: AvailabilityTracker | undefined;
  private readonly incidents = new IncidentBook((e) => this.emit(e));
  /** Demo-specific counts (requests, failures and latencies are the tracker's). */
  private totals = { writes: 0, acknowledged: 0, degradedReads: 0 };
  private startedAt = 0;
  private poller: NodeJS.Timeout | undefined;
  private readonly ring = new HashRing();
  private ringView: RingView | undefined;

  constructor(options: DemoOptions) {
    const scope = 'runDemo';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { durationMs } are required`);
    const o = checkOptions<DemoOptions>(scope, options, [
      'durationMs', 'dbNodes', 'webNodes', 'replicas', 'writeQuorum', 'ratePerSec', 'writeShare', 'carts', 'seed', 'chaos', 'faultIntervalMs', 'faults', 'pauseMs', 'restartDelayMs', 'registry', 'store', 'dataDir', 'port', 'slo', 'ttlMs', 'nodeCommand', 'front',
    ]);
    const d = DEMO_DEFAULTS;
    const dbNodes = checkInteger(scope, 'dbNodes', o.dbNodes ?? d.dbNodes, DEMO_RANGES.dbNodes);
    const replicas = checkInteger(scope, 'replicas', o.replicas ?? Math.min(d.replicas, dbNodes), { min: DEMO_RANGES.replicas.min, max: dbNodes });
    const registry = checkString(scope, 'registry', o.registry ?? d.registry);
    if (registry !== 'embedded' && !registry.startsWith('etcd://')) throw new InvalidOptionError(`${scope}: registry must be 'embedded' or etcd://host:port, got ${JSON.stringify(registry)}`);
    if (registry !== 'embedded') parseEtcd(registry);
    const store = checkString(scope, 'store', o.store ?? d.store);
    if (store !== 'file' && !/^rediss?:\/\//.test(store)) throw new InvalidOptionError(`${scope}: store must be 'file' or redis://host:port, got ${JSON.stringify(store)}`);
    // Say so now, not from inside six node processes: the backends are optional packages.
    if (store !== 'file') loadPackage('ioredis', `the demo with --store ${store}`);
    if (registry !== 'embedded') loadPackage('etcd3', `the demo with --registry ${registry}`);
    const faults = o.faults ?? ['kill', 'pause'];
    if (!Array.isArray(faults) || faults.length === 0 || faults.some((f) => f !== 'kill' && f !== 'pause')) throw new InvalidOptionError(`${scope}: faults must be a non-empty list of kill and pause, got ${JSON.stringify(faults)}`);
    const nodeCommand = o.nodeCommand ?? [process.execPath, fileURLToPath(new URL('../cli/index.js', import.meta.url))];
    if (!Array.isArray(nodeCommand) || nodeCommand.length === 0 || nodeCommand.some((c) => typeof c !== 'string')) throw new InvalidOptionError(`${scope}: nodeCommand must be [executable, ...args]`);
    this.options = {
      durationMs: checkInteger(scope, 'durationMs', o.durationMs, DEMO_RANGES.durationMs),
      dbNodes,
      webNodes: checkInteger(scope, 'webNodes', o.webNodes ?? d.webNodes, DEMO_RANGES.webNodes),
      replicas,
      writeQuorum: checkInteger(scope, 'writeQuorum', o.writeQuorum ?? replicas, { min: 1, max: replicas }),
      ratePerSec: checkNumber(scope, 'ratePerSec', o.ratePerSec ?? d.ratePerSec, DEMO_RANGES.ratePerSec),
      writeShare: checkNumber(scope, 'writeShare', o.writeShare ?? d.writeShare, DEMO_RANGES.writeShare),
      carts: checkInteger(scope, 'carts', o.carts ?? d.carts, DEMO_RANGES.carts),
      seed: checkInteger(scope, 'seed', o.seed ?? d.seed, DEMO_RANGES.seed),
      chaos: checkBoolean(scope, 'chaos', o.chaos ?? d.chaos),
      faultIntervalMs: checkInteger(scope, 'faultIntervalMs', o.faultIntervalMs ?? d.faultIntervalMs, DEMO_RANGES.faultIntervalMs),
      faults,
      pauseMs: checkInteger(scope, 'pauseMs', o.pauseMs ?? (registry === 'embedded' ? d.pauseMs : 3000), DEMO_RANGES.pauseMs),
      restartDelayMs: checkInteger(scope, 'restartDelayMs', o.restartDelayMs ?? d.restartDelayMs, DEMO_RANGES.restartDelayMs),
      registry,
      store,
      port: checkInteger(scope, 'port', o.port ?? d.port, DEMO_RANGES.port),
      slo: checkNumber(scope, 'slo', o.slo ?? d.slo, DEMO_RANGES.slo),
      ttlMs: checkInteger(scope, 'ttlMs', o.ttlMs ?? d.ttlMs, DEMO_RANGES.ttlMs),
      nodeCommand,
      front: o.front,
    };
    if (o.front !== undefined && typeof o.front !== 'function') throw new InvalidOptionError(`${scope}: front must be a function (webs) => Promise<{ url, stop }>`);
    if (o.dataDir !== undefined) this.dataDir = checkString(scope, 'dataDir', o.dataDir);
  }

  on(name: 'event', listener: Listener<DemoEvent>): Disposable {
    return this.events.on(name, listener);
  }

  private emit(e: DemoEvent): void {
    this.events.emit('event', e);
  }

  get gatewayUrl(): string {
    return this.gateway!.url;
  }

  /** Starts the registry, every node and the gateway; resolves when all nodes are healthy. */
  async start(): Promise<void> {
    const o = this.options;
    let nodeRegistry: DemoNodeConfig['registry'];
    let registryUrl: string;
    if (o.registry === 'embedded') {
      const embedded = new EmbeddedRegistry();
      this.registry = embedded;
      this.registryServer = await new RegistryServer({ registry: embedded, port: 0 }).listen();
      nodeRegistry = { kind: 'consul', url: this.registryServer.url };
      registryUrl = this.registryServer.url;
    } else {
      const endpoints = parseEtcd(o.registry);
      this.registry = new EtcdRegistry({ endpoints, ttlMs: 1000 });
      nodeRegistry = { kind: 'etcd', endpoints };
      registryUrl = o.registry;
    }
    let store: DemoNodeConfig['store'];
    if (o.store === 'file') {
      if (!this.dataDir) {
        for (const d of sweepDemoLeftovers()) this.emit({ type: 'phase', text: `removed ${d}, left by an earlier run whose supervisor was killed` });
        this.dataDir = mkdtempSync(path.join(os.tmpdir(), DEMO_DIR_PREFIX));
        claimDemoDir(this.dataDir);
        this.ownsDataDir = true;
      }
      store = { kind: 'file', dir: this.dataDir };
    } else store = { kind: 'redis', url: o.store, prefix: `steadfast:demo:${this.runId}:` };

    const dbNodes: { id: string; url: string }[] = [];
    for (let i = 1; i <= o.dbNodes; i++) {
      const port = await freePort();
      dbNodes.push({ id: `db-${i}`, url: `http://127.0.0.1:${port}` });
      this.nodes.push({ name: `db-${i}`, role: 'db', port });
      this.ring.add(`db-${i}`);
    }
    for (let i = 1; i <= o.webNodes; i++) this.nodes.push({ name: `web-${i}`, role: 'web', port: await freePort() });
    const base = { dbNodes, replicas: o.replicas, writeQuorum: o.writeQuorum, registry: nodeRegistry, store, ttlMs: o.ttlMs, heartbeatMs: Math.max(50, Math.round(o.ttlMs / 3)), electionTtlMs: nodeRegistry.kind === 'etcd' ? 2000 : 1000, dbTimeoutMs: 800, secret: randomBytes(24).toString('hex') };

    for (const service of ['db', 'web']) {
      this.watches.push(this.registry.watch(service, (list) => this.onHealth(service, new Set(list.map((h) => h.instance.id)))));
    }
    this.chaos = new ProcessChaos({
      processes: this.nodes.map((n) => ({
        name: n.name,
        command: [...o.nodeCommand, 'demo-node'],
        ipc: true,
        env: { [DEMO_NODE_ENV]: JSON.stringify({ ...base, role: n.role, id: n.name, port: n.port } satisfies DemoNodeConfig) },
      })),
      faults: o.faults,
      pauseMs: o.pauseMs,
      restartDelayMs: o.restartDelayMs,
      // Faults every faultIntervalMs × 0.75–1.25, one at a time — the fault model R = 2 is built
      // for: a due fault waits until every process is healthy and no incident is open.
      schedule: { kind: 'jittered', intervalMs: o.faultIntervalMs, jitter: 0.25 },
      gate: { ready: () => this.allHealthy() && this.incidents.openCount === 0 },
      random: seededRandom(o.seed ^ 0x5f3759df),
    });
    // The reaper removes it even if this supervisor is SIGKILLed (and kills every node, paused or not).
    if (this.ownsDataDir) this.chaos.removeOnCrash(this.dataDir!);
    for (const n of this.nodes) this.running.set(n.name, { pid: null, restarts: 0, paused: false });
    this.chaos.on('start', (e) => this.running.set(e.name, { pid: e.pid, restarts: e.restarts, paused: false }));
    this.chaos.on('exit', (e) => {
      const r = this.running.get(e.name);
      if (r && r.pid === e.pid) r.pid = null;
    });
    this.chaos.on('resumed', (e) => {
      const r = this.running.get(e.name);
      if (r) r.paused = false;
      this.incidents.resumed(e.name, Date.now());
    });
    this.chaos.on('fault', (rec) => {
      if (rec.kind === 'pause') this.running.get(rec.target)!.paused = true;
      this.incidents.fault(rec);
    });
    this.chaos.on('message', ({ message }) => {
      if (isNodeMessage(message) && message.type === 'elected') this.incidents.elected(message.id, message.fencingToken, Date.now());
    });
    this.emit({ type: 'phase', text: `starting ${o.dbNodes} db nodes and ${o.webNodes} web replicas` });
    this.chaos.start({ inject: false });
    await this.waitAllHealthy(30_000, 'to start');

    this.gateway = await new Gateway({
      routes: [{ path: '/api', service: 'web', perTryTimeoutMs: 1000, timeoutMs: 5000, maxAttempts: 3, outlier: { consecutiveFailures: 3, baseEjectionMs: 1000, maxEjectionMs: 10_000 } }],
      registry: this.registry,
      port: o.port,
      admin: (req, res) => this.admin(req, res),
    }).listen();
    this.poller = setInterval(() => void this.poll(), 1000);
    if (o.front) this.front = await o.front(this.nodes.filter((n) => n.role === 'web').map((n) => ({ name: n.name, port: n.port })));
    this.emit({ type: 'started', gateway: this.gateway.url, dashboard: `${this.gateway.url}/_steadfast/`, registry: registryUrl, dataDir: this.ownsDataDir || o.store === 'file' ? this.dataDir : undefined });
  }

  private allHealthy(): boolean {
    return this.healthy.get('db')!.size === this.options.dbNodes && this.healthy.get('web')!.size === this.options.webNodes && [...this.running.values()].every((r) => r.pid !== null && !r.paused);
  }

  private async waitAllHealthy(timeoutMs: number, why: string): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (!this.allHealthy()) {
      if (Date.now() > until) {
        const missing = this.nodes.filter((n) => !this.healthy.get(n.role)!.has(n.name)).map((n) => n.name);
        if (why === 'to start') throw new Error(`steadfast demo: ${missing.join(', ')} did not become healthy within ${timeoutMs} ms ${why}`);
        return false;
      }
      await sleep(50);
    }
    return true;
  }

  private onHealth(service: string, now: Set<string>): void {
    const before = this.healthy.get(service)!;
    this.healthy.set(service, now);
    const at = Date.now();
    for (const id of before) if (!now.has(id)) this.incidents.left(id, at);
    for (const id of now) if (!before.has(id)) this.incidents.back(id, at);
  }

  get leader(): string | undefined {
    return this.incidents.leader;
  }

  private async poll(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        const r = this.running.get(n.name);
        if (!r || r.pid === null || r.paused) return;
        try {
          const res = await request(`http://127.0.0.1:${n.port}/status`, { headersTimeout: 400, bodyTimeout: 400 });
          if (res.statusCode === 200) this.detail.set(n.name, (await res.body.json()) as Record<string, unknown>);
          else await res.body.dump();
        } catch {
          // down or busy: the registry says which
        }
      }),
    );
  }

  /** Runs the load (and the chaos) for durationMs, then settles, reads everything back and reports. */
  async run(): Promise<DemoResult> {
    const o = this.options;
    // Warm up (connections, JIT — and whoever just opened the dashboard) before anything is
    // measured: reads for about two seconds, unmeasured.
    this.emit({ type: 'phase', text: 'warming up for 2 s (not measured)' });
    const warmUntil = Date.now() + 2000;
    while (Date.now() < warmUntil) {
      await Promise.all(
        Array.from({ length: 5 }, async (_, k) => {
          const res = await request(`${this.front?.url ?? this.gateway!.url}/api/carts/warmup-${k}`, { headersTimeout: 5000, bodyTimeout: 5000 }).catch(() => undefined);
          await res?.body.dump();
        }),
      );
      await sleep(50);
    }
    const random = seededRandom(o.seed);
    const history = new HistoryChecker();
    const failures: DemoResult['failures'] = [];
    const carts = new Set<string>();
    this.tracker = new AvailabilityTracker({ slo: o.slo, bucketMs: Math.max(250, Math.round(o.durationMs / 120)) });
    this.incidents.attach(this.tracker);
    const tracker = this.tracker;
    this.startedAt = Date.now();
    tracker.start(this.startedAt);
    type Tag = { cart: string; write?: { id: string; done: ReturnType<HistoryChecker['invoke']> } };
    const next = (seq: number): LoadRequest => {
      const cart = `c${Math.floor(random() * o.carts)}`;
      if (random() < o.writeShare) {
        const id = `w${seq}`;
        carts.add(cart);
        return { method: 'PUT', path: `/api/carts/${cart}/items/${id}`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sku: `sku-${Math.floor(random() * 1000)}`, qty: 1 + Math.floor(random() * 5) }), tag: { cart, write: { id, done: history.invoke(id) } } satisfies Tag };
      }
      return { method: 'GET', path: `/api/carts/${cart}`, tag: { cart } satisfies Tag };
    };
    const front = this.front?.url ?? this.gateway!.url;
    const load = new LoadGenerator({ url: front, ratePerSec: o.ratePerSec, durationMs: o.durationMs, timeoutMs: 5000, next });
    load.on('result', (r: LoadResult) => {
      const at = r.scheduledAt + r.latencyMs;
      tracker.recordRequest(r.ok, r.latencyMs, at);
      if (!r.ok && failures.length < 100) failures.push({ at, method: r.request?.method ?? 'GET', path: r.request?.path ?? '', status: r.status, error: r.error, body: r.body?.slice(0, 300) });
      if (r.ok && r.request?.method === 'GET' && r.body !== undefined && r.body.includes('"complete":false')) this.totals.degradedReads++;
      const w = (r.request?.tag as Tag | undefined)?.write;
      if (w) {
        this.totals.writes++;
        if (r.status !== null && r.status >= 200 && r.status < 300) {
          w.done.ok(at);
          this.totals.acknowledged++;
        } else if (r.status !== null && r.status >= 400 && r.status < 500) w.done.fail(at);
        else w.done.info(at);
      }
    });

    // No new fault near the end, so every incident heals while it is observed.
    if (o.chaos) this.chaos!.injectFaults({ until: this.startedAt + o.durationMs - Math.max(o.pauseMs, o.restartDelayMs) - 3000 });
    const progress = setInterval(() => {
      const live = tracker.live();
      this.emit({
        type: 'progress',
        elapsedMs: Date.now() - this.startedAt,
        requests: live.requests,
        failed: live.failed,
        availability: live.requests ? (live.requests - live.failed) / live.requests : 1,
        faults: live.incidents.length,
        leader: this.leader,
      });
    }, 1000);
    const loadSummary = await load.run();
    clearInterval(progress);
    const endedAt = Date.now();
    this.chaos!.stopInjecting();

    // Settle: the last fault heals, then every acknowledged write must be readable.
    this.emit({ type: 'phase', text: 'load done; waiting for every process to be healthy, then reading every cart back' });
    await this.waitAllHealthy(30_000, 'after the run');
    const historyResult = await readBack(this.gateway!.url, carts, history);
    const report = tracker.report(endedAt);
    // Restores seen after the load stopped still count (recorded above, before report()).
    return {
      config: { ...o, nodeCommand: undefined, runId: this.runId },
      report,
      history: historyResult,
      lostWrites: historyResult.lost.length,
      processes: this.nodes.map((n) => ({ name: n.name, restarts: this.running.get(n.name)!.restarts, healthyAtEnd: this.healthy.get(n.role)!.has(n.name) })),
      leadership: { changes: this.incidents.leaderChanges, failovers: this.incidents.failovers },
      faults: [...this.chaos!.records],
      failures,
      degradedReads: this.totals.degradedReads,
      load: { sent: loadSummary.sent, sendLagMs: loadSummary.sendLagMs },
      ...(this.front ? { front: { events: [...(this.front.events ?? [])] } } : {}),
    };
  }

  /** What the dashboard shows. */
  state(): DemoState {
    const now = Date.now();
    const ring = (this.ringView ??= ringSummary(this.ring, this.options.replicas));
    // Live figures, incidents and the per-second series come from the tracker (one p99 formula).
    const live = this.tracker?.live(now);
    const sinceStart = (at: number): number => (at - this.startedAt) / 1000;
    const series = (live?.series ?? []).filter((b) => b.at >= this.startedAt - 1000).map((b) => ({ t: Math.floor(sinceStart(b.at)), requests: b.requests, failed: b.failed, p99: b.p99Ms }));
    const requests = live?.requests ?? 0;
    const failed = live?.failed ?? 0;
    return {
      now,
      startedAt: this.startedAt || null,
      durationMs: this.options.durationMs,
      config: { dbNodes: this.options.dbNodes, webNodes: this.options.webNodes, replicas: this.options.replicas, writeQuorum: this.options.writeQuorum, ratePerSec: this.options.ratePerSec, registry: this.options.registry, store: this.options.store, seed: this.options.seed, chaos: this.options.chaos },
      totals: { requests, failed, ...this.totals, availability: requests ? (requests - failed) / requests : 1 },
      leader: this.incidents.leaderChanges.at(-1) ?? null,
      processes: this.processes(),
      ring,
      series,
      incidents: (live?.incidents ?? []).map((i) => ({ ...i, t: sinceStart(i.at) })),
      failovers: this.incidents.failovers,
    };
  }

  processes(): ProcessView[] {
    return this.nodes.map((n) => {
      const r = this.running.get(n.name)!;
      const status: ProcessView['status'] = r.pid === null ? 'down' : r.paused ? 'paused' : this.healthy.get(n.role)!.has(n.name) ? 'passing' : 'critical';
      return { name: n.name, role: n.role, pid: r.pid, status, restarts: r.restarts, port: n.port, detail: this.detail.get(n.name) ?? null };
    });
  }

  private admin(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = (req.url ?? '').split('?')[0];
    if (url === '/_steadfast/' || url === '/_steadfast/dashboard') {
      const html = dashboardHtml();
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html), 'cache-control': 'no-store' });
      res.end(html);
      return true;
    }
    if (url === '/_steadfast/state') {
      sendJson(res, 200, this.state());
      return true;
    }
    return false;
  }

  async stop(): Promise<void> {
    if (this.poller) clearInterval(this.poller);
    await this.front?.stop();
    for (const w of this.watches) w.dispose();
    await this.gateway?.close().catch(() => {});
    await this.chaos?.stop().catch(() => {});
    await this.registryServer?.close().catch(() => {});
    await this.registry?.close().catch(() => {});
    if (this.ownsDataDir && this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Starts the demo system, runs it, stops it. */
export async function runDemo(options: DemoOptions, onEvent?: (e: DemoEvent) => void): Promise<DemoResult> {
  const system = new DemoSystem(options);
  if (onEvent) system.on('event', onEvent);
  try {
    await system.start();
    return await system.run();
  } finally {
    await system.stop();
  }
}
