import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { claimDemoDir, DEMO_DIR_PREFIX, sweepDemoLeftovers } from './leftovers.js';
import { ProcessChaos, type ProcessFault } from '../chaos/process-chaos.js';
import { NetworkChaos, type NetworkFault } from '../chaos/network-chaos.js';
import { demoFaultPick, demoPartitionPlan } from './network-faults.js';
import { NetworkHosts } from '../chaos/netns.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { boundedServer, browserRefusal, defaultMaxConnections, freePort, listen, sendJson } from '../core/http.js';
import { seededRandom } from '../core/random.js';
import { systemClock } from '../core/clock.js';
import { HashRing } from '../hashing/ring.js';
import { AvailabilityTracker } from '../metrics/availability.js';
import { checkFencing } from '../metrics/fencing-check.js';
import { FencingLogs, MaintenanceRegisters } from './fencing-log.js';
import { EtcdRegistry } from '../registry/etcd.js';
import { HttpRegistry } from '../registry/http-client.js';
import type { Registry } from '../registry/registry.js';
import { DEMO_CLIENT_HEDGE_MS, DEMO_GATEWAY_TRY_TIMEOUT_MS, DEMO_WEB_TRY_TIMEOUT_MS, DEMO_NODE_ENV, DEMO_ROLES, procCpuMicros, type DemoNodeConfig, type DemoRole } from './config.js';
import { etcdClusterProcesses, findEtcd, InfraProbes, registryProcess, type InfraProcess } from './infra.js';
import { GATEWAY_PROBE_PATH, GATEWAY_STATUS_PATH } from './gateway-node.js';
import { dashboardHtml, ringSummary, type RingView } from './dashboard.js';
import { IncidentBook } from './incidents.js';
import { countsBetween, TierCounters, type CountsSnapshot } from './tier-counters.js';
import { isNodeMessage } from './protocol.js';
import { DemoClient } from './client.js';
import { isNetworkFault, parseEtcd, resolveDemoOptions, type DemoFront, type DemoOptions, type ResolvedDemoOptions } from './options.js';
import { faultsByKind, type DemoEvent, type DemoResult, type DemoState, type ProcessView } from './views.js';

/**
 * One fault at a time means the next waits until the last one's effects are over: every process
 * healthy, no incident open, and this long since the last was restored — a web node's try
 * timeout, within which the requests a healed process held (a gateway that was cut off, its
 * tries still waiting to connect) have ended. Without it, a gateway killed 0.2 s after a
 * partition of the other gateway healed failed 11 requests that were still waiting there.
 */
const SETTLE_AFTER_RESTORE_MS = DEMO_WEB_TRY_TIMEOUT_MS;

/** How long the polls that count a run's sheds and CPU time wait for a busy node's /status. */
const COUNTS_POLL_TIMEOUT_MS = 3000;

export * from './options.js';
export * from './views.js';
export * from './capacity.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** How long the demo warms up, unmeasured, before the run. */
const WARM_UP_MS = 4000;

/**
 * A web application and its database, fault tolerant, on one machine: db nodes (a replicated
 * key-value service on a consistent-hash ring, checkpointing every acknowledged write), web
 * replicas (a carts API using the db through quorum reads and writes, one of them leader-elected
 * for a maintenance task with fencing tokens), gateways in front of web, each in its own process,
 * a registry every process heartbeats to, and — while an open-loop load of reads and writes runs,
 * from a client that knows every gateway — a seeded chaos schedule that SIGKILLs, SIGSTOPs or
 * gracefully restarts any of those processes. Every request's outcome goes to an
 * AvailabilityTracker; every write to a HistoryChecker, settled by reading everything back at
 * the end.
 */
export class DemoSystem {
  readonly options: ResolvedDemoOptions;
  private front: DemoFront | undefined;
  private readonly events = new Emitter<{ event: DemoEvent }>();
  /** The supervisor's client of the registry (its watches tell which processes are healthy). */
  private registry: Registry | undefined;
  /**
   * The processes behind the registry that the demo runs — the embedded registry's, or the
   * members of its own etcd cluster — and whether each answers (none with a user's etcd).
   */
  private infra: InfraProbes | undefined;
  /** The supervisor's own server: the dashboard and its state (the API is on the gateways). */
  private dashboard: http.Server | undefined;
  private chaos: ProcessChaos | undefined;
  /** With hosts 'namespaces': every process's network namespace, and the network faults' schedule. */
  private net: NetworkHosts | undefined;
  private network: NetworkChaos | undefined;
  private dataDir: string | undefined;
  private ownsDataDir = false;
  private readonly runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  private nodes: { name: string; role: DemoRole; host: string; port: number }[] = [];
  private readonly healthy = new Map<string, Set<string>>(DEMO_ROLES.map((r) => [r, new Set<string>()]));
  private readonly running = new Map<string, { pid: number | null; restarts: number; paused: boolean }>();
  private readonly detail = new Map<string, Record<string, unknown>>();
  private readonly counters = new TierCounters();
  /** Every db node's maintenance writes, read on each poll: the run's fencing check. */
  private readonly fencingLogs = new FencingLogs();
  /** Each db node's maintenance record as a register: the polls' reads, for the linearizability check. */
  private readonly registers = new MaintenanceRegisters();
  private countsAtStart: CountsSnapshot | undefined;
  /** The last lines each process printed, for an error that says why one did not start. */
  private readonly lastLines = new Map<string, string[]>();
  private readonly lastExit = new Map<string, string>();
  /** Processes the supervisor left down after a crash loop, and why. */
  private readonly gaveUp = new Map<string, string>();
  private readonly watches: Disposable[] = [];
  private tracker: AvailabilityTracker | undefined;
  private readonly incidents = new IncidentBook((e) => this.emit(e));
  /** The load's client process, while the run is on. */
  private client: DemoClient | undefined;
  /** The client's running write totals, for the dashboard. */
  private writeTotals = { writes: 0, acknowledged: 0, degradedReads: 0 };
  private startedAt = 0;
  private poller: NodeJS.Timeout | undefined;
  private readonly ring = new HashRing();
  private ringView: RingView | undefined;

  constructor(options: DemoOptions) {
    const resolved = resolveDemoOptions(options);
    this.options = resolved;
    this.dataDir = resolved.dataDir;
  }

  on(name: 'event', listener: Listener<DemoEvent>): Disposable {
    return this.events.on(name, listener);
  }

  private emit(e: DemoEvent): void {
    this.events.emit('event', e);
  }

  /** Every gateway's address: the load's client knows them all. */
  get gatewayUrls(): string[] {
    return this.nodes.filter((n) => n.role === 'gateway').map((n) => `http://${n.host}:${n.port}`);
  }

  /** Starts the registry, every node and the gateways; resolves when all are healthy. */
  async start(): Promise<void> {
    const o = this.options;
    // The run's folder: the db nodes' checkpoints and journals (with the file store), and the
    // registry's checkpoints or the etcd members' data.
    if (!this.dataDir && (o.store === 'file' || o.registry === 'embedded' || o.registry === 'etcd-cluster')) {
      for (const d of sweepDemoLeftovers()) this.emit({ type: 'phase', text: `removed ${d}, left by an earlier run whose supervisor was killed` });
      this.dataDir = mkdtempSync(path.join(os.tmpdir(), DEMO_DIR_PREFIX));
      claimDemoDir(this.dataDir);
      this.ownsDataDir = true;
    }
    const store: DemoNodeConfig['store'] = o.store === 'file' ? { kind: 'file', dir: this.dataDir! } : { kind: 'redis', url: o.store, prefix: `steadfast:demo:${this.runId}:` };
    let nodeRegistry: DemoNodeConfig['registry'];
    let registryUrl: string;
    let infra: InfraProcess[] = [];
    // With hosts 'namespaces', each process gets a network namespace and an address of its own
    // (the supervisor and the load's client stay in this one, reaching every host over the
    // bridge, whatever is cut); what a killed run left is removed first.
    const names = [...(o.registry === 'embedded' ? ['registry'] : []), ...Array.from({ length: o.dbNodes }, (_, i) => `db-${i + 1}`), ...Array.from({ length: o.webNodes }, (_, i) => `web-${i + 1}`), ...Array.from({ length: o.gateways }, (_, i) => `gateway-${i + 1}`)];
    if (o.hosts === 'namespaces') {
      for (const d of await NetworkHosts.sweep()) this.emit({ type: 'phase', text: `removed ${d}, left by an earlier run whose supervisor was killed` });
      this.net = await NetworkHosts.create({ hosts: names });
      this.emit({ type: 'phase', text: `network namespaces: ${this.net.hosts.length} hosts on ${this.net.subnet}.0/24 (bridge ${this.net.bridge})` });
    }
    const hostOf = (name: string): string => this.net?.host(name).address ?? '127.0.0.1';
    const inHost = (name: string, argv: string[]): string[] => (this.net ? this.net.command(name, argv) : argv);
    // A restarted registry or etcd member starts from what it saved; a new run starts empty
    // ('.registry' and '.etcd' cannot be checkpoint streams' folders: stream names start with a
    // letter or digit).
    if (o.registry === 'embedded') {
      infra = [await registryProcess(o.nodeCommand, path.join(this.dataDir!, '.registry'), hostOf('registry'))];
      infra[0]!.process.command = inHost('registry', infra[0]!.process.command);
      registryUrl = `http://${infra[0]!.host}:${infra[0]!.port}`;
      this.registry = new HttpRegistry({ url: registryUrl, timeoutMs: 2000 });
      nodeRegistry = { kind: 'consul', url: registryUrl };
    } else {
      const endpoints = o.registry === 'etcd-cluster' ? (infra = await etcdClusterProcesses(findEtcd()!, path.join(this.dataDir!, '.etcd'))).map((m) => `http://127.0.0.1:${m.port}`) : parseEtcd(o.registry);
      this.registry = new EtcdRegistry({ endpoints, ttlMs: 1000 });
      nodeRegistry = { kind: 'etcd', endpoints };
      registryUrl = `etcd://${endpoints.map((e) => new URL(e).host).join(',')}`;
    }
    if (infra.length > 0) this.infra = new InfraProbes(infra, (name, up, at) => (up ? this.incidents.back(name, at) : this.incidents.left(name, at)));

    const dbNodes: { id: string; url: string }[] = [];
    for (let i = 1; i <= o.dbNodes; i++) {
      const port = await freePort();
      dbNodes.push({ id: `db-${i}`, url: `http://${hostOf(`db-${i}`)}:${port}` });
      this.nodes.push({ name: `db-${i}`, role: 'db', host: hostOf(`db-${i}`), port });
      this.ring.add(`db-${i}`);
    }
    for (let i = 1; i <= o.webNodes; i++) this.nodes.push({ name: `web-${i}`, role: 'web', host: hostOf(`web-${i}`), port: await freePort() });
    for (let i = 1; i <= o.gateways; i++) this.nodes.push({ name: `gateway-${i}`, role: 'gateway', host: hostOf(`gateway-${i}`), port: await freePort() });
    const base = { dbNodes, replicas: o.replicas, writeQuorum: o.writeQuorum, registry: nodeRegistry, store, ttlMs: o.ttlMs, heartbeatMs: Math.max(50, Math.round(o.ttlMs / 3)), detector: o.detector, electionTtlMs: nodeRegistry.kind === 'etcd' ? 2000 : 1000, dbTimeoutMs: 800, secret: randomBytes(24).toString('hex') };

    for (const service of DEMO_ROLES) {
      this.watches.push(this.registry.watch(service, (list) => this.onHealth(service, new Set(list.map((h) => h.instance.id)))));
    }
    // With a comparison's front the load bypasses the gateways: they are not faulted (a fault
    // off the load's path would be free for the front).
    const onPath = (name: string): boolean => !o.front || this.infra?.has(name) === true || this.roleOf(name) !== 'gateway';
    const command = [...o.nodeCommand, 'demo-node'];
    this.chaos = new ProcessChaos({
      processes: [
        ...infra.map((p) => p.process),
        ...this.nodes.map((n) => ({
          name: n.name,
          command: inHost(n.name, command),
          ipc: true,
          env: { [DEMO_NODE_ENV]: JSON.stringify({ ...base, role: n.role, id: n.name, host: n.host, port: n.port } satisfies DemoNodeConfig) },
        })),
      ],
      faults: this.processFaults.length ? this.processFaults : ['kill'],
      pauseMs: o.pauseMs,
      restartDelayMs: o.restartDelayMs,
      // Faults every faultIntervalMs × 0.75–1.25, one at a time — the fault model R = 2 is built
      // for: a due fault waits until every process is healthy and no incident is open. With
      // maxConcurrentFaults 2 or 3, one per replica group: a db node, a web node and a gateway
      // may be down at once. The registry (or an etcd member) is faulted only alone: while it is
      // out, no process may be seen to leave or come back.
      schedule: { kind: 'jittered', intervalMs: this.networkFaults.length ? 2 * o.faultIntervalMs : o.faultIntervalMs, jitter: 0.25 },
      gate:
        o.maxConcurrentFaults === 1
          ? { ready: () => this.settled(), ...(o.front ? { eligible: (name: string) => onPath(name) } : {}) }
          : {
              eligible: (name) =>
                this.infra?.has(name)
                  ? this.incidents.openCount === 0 && this.allHealthy()
                  : onPath(name) && this.incidents.openCount < o.maxConcurrentFaults && this.infraWhole() && this.groupWhole(this.roleOf(name)),
            },
      random: seededRandom(o.seed ^ 0x5f3759df),
    });
    if (this.networkFaults.length) this.network = this.networkChaos();
    // The reaper removes it even if this supervisor is SIGKILLed (and kills every node, paused or not).
    if (this.ownsDataDir) this.chaos.removeOnCrash(this.dataDir!);
    for (const n of this.processNames()) this.running.set(n, { pid: null, restarts: 0, paused: false });
    this.chaos.on('start', (e) => this.running.set(e.name, { pid: e.pid, restarts: e.restarts, paused: false }));
    this.chaos.on('exit', (e) => {
      const r = this.running.get(e.name);
      if (r && r.pid === e.pid) r.pid = null;
      this.lastExit.set(e.name, e.signal ? `last exit by ${e.signal}` : `last exit code ${e.code}`);
    });
    this.chaos.on('output', ({ name, line }) => {
      const lines = this.lastLines.get(name) ?? [];
      lines.push(line.slice(0, 500));
      if (lines.length > 5) lines.shift();
      this.lastLines.set(name, lines);
    });
    this.chaos.on('gaveUp', (g) => {
      this.gaveUp.set(g.name, g.reason);
      this.emit({ type: 'phase', text: `${g.name} left down after ${g.restarts} restarts: ${g.reason}` });
    });
    this.chaos.on('resumed', (e) => {
      const r = this.running.get(e.name);
      if (r) r.paused = false;
      this.incidents.resumed(e.name, systemClock.now());
    });
    this.chaos.on('fault', (rec) => {
      if (rec.kind === 'pause') this.running.get(rec.target)!.paused = true;
      this.incidents.fault(rec);
    });
    this.chaos.on('message', ({ message }) => {
      if (isNodeMessage(message) && message.type === 'elected') this.incidents.elected(message.id, message.fencingToken, systemClock.now());
    });
    const infraText = o.registry === 'embedded' ? 'the registry, ' : o.registry === 'etcd-cluster' ? `${infra.length} etcd members, ` : '';
    this.emit({ type: 'phase', text: `starting ${infraText}${o.dbNodes} db nodes, ${o.webNodes} web replicas and ${o.gateways} gateway${o.gateways === 1 ? '' : 's'}` });
    this.chaos.start({ inject: false });
    this.infra?.start();
    // Generous: eight processes importing their clients (etcd's gRPC is heavy) on a busy machine.
    await this.waitAllHealthy(60_000, 'to start');

    // Bounded like every server here, and refusing pages of other origins (it is read-only, but
    // its state names every process and port).
    this.dashboard = boundedServer({ headersTimeoutMs: 10_000, requestTimeoutMs: 10_000, keepAliveTimeoutMs: 5000, maxConnections: Math.min(256, defaultMaxConnections()) }, (req, res) => {
      const refusal = browserRefusal(req);
      if (refusal) return sendJson(res, 403, { error: refusal });
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'the dashboard answers GET only' });
      if (!this.admin(req, res)) sendJson(res, 404, { error: `no page at ${req.url}; the dashboard is at /_steadfast/ and its state at /_steadfast/state` });
    });
    await listen(this.dashboard, o.port, '127.0.0.1');
    this.poller = setInterval(() => void this.poll(), 1000);
    if (o.front) this.front = await o.front(this.nodes.filter((n) => n.role === 'web').map((n) => ({ name: n.name, port: n.port })));
    this.emit({ type: 'started', gateways: this.gatewayUrls, dashboard: `${this.dashboardUrl}/_steadfast/`, registry: registryUrl, dataDir: this.ownsDataDir || o.store === 'file' ? this.dataDir : undefined });
  }

  /** The faults ProcessChaos injects, and those NetworkChaos does. */
  private get processFaults(): ProcessFault[] {
    return this.options.faults.filter((f): f is ProcessFault => !isNetworkFault(f));
  }

  private get networkFaults(): NetworkFault[] {
    return this.options.faults.filter(isNetworkFault);
  }

  /**
   * The network faults' schedule, one at a time like the process faults' (each waits until the
   * system is whole again), every faultIntervalMs × 2 when both kinds run (so a fault comes about
   * every faultIntervalMs). Partitions: a db node isolated; the elected leader cut off from the
   * registry while it still reaches every db node; a minority (one db node, one web node, one
   * gateway) split from the rest — the registry is always on the majority's side. loss and flap
   * go to any node; skew to the leader, through its IPC channel.
   */
  private networkChaos(): NetworkChaos {
    const o = this.options;
    const names = this.nodes.map((n) => n.name);
    const leader = (): string | undefined => this.leader;
    const network = new NetworkChaos({
      ...(this.net ? { hosts: this.net } : {}),
      faults: this.networkFaults,
      targets: names,
      schedule: { kind: 'jittered', intervalMs: this.processFaults.length ? 2 * o.faultIntervalMs : o.faultIntervalMs, jitter: 0.25 },
      durationMs: o.networkFaultMs,
      plan: demoPartitionPlan(this.nodes, this.net?.hosts.map((h) => h.name) ?? names, leader, this.infra?.has('registry') === true),
      pick: demoFaultPick(this.nodes, leader),
      onSkew: (target, skew) => {
        if (!this.chaos?.send(target, { type: 'skew', ...skew })) throw new Error(`${target} could not be told to set its clock (not running, or paused)`);
      },
      gate: { ready: () => this.settled() },
      random: seededRandom(o.seed ^ 0x2545f491),
    });
    network.on('fault', (rec) => {
      for (const target of rec.targets) this.incidents.fault({ at: rec.at, target, kind: rec.kind, pid: this.running.get(target)?.pid ?? -1 }, rec.label);
    });
    network.on('healed', (rec) => {
      for (const target of rec.targets) this.incidents.resumed(target, rec.healedAt ?? systemClock.now());
    });
    network.on('error', ({ record, error }) => this.emit({ type: 'phase', text: `${record.label}: ${error.message}` }));
    return network;
  }

  /** Where the dashboard is served (the supervisor's server on `port`). */
  get dashboardUrl(): string {
    const a = this.dashboard?.address();
    return `http://127.0.0.1:${a && typeof a === 'object' ? a.port : this.options.port}`;
  }

  private roleOf(name: string): DemoRole {
    return this.nodes.find((n) => n.name === name)!.role;
  }

  /** Every process the chaos runs: the registry's (or etcd members) when the demo runs them, and every node. */
  private processNames(): string[] {
    return [...(this.infra?.processes.map((p) => p.name) ?? []), ...this.nodes.map((n) => n.name)];
  }

  /** Every registry process or etcd member the demo runs answers, runs unpaused and has no open incident. */
  private infraWhole(): boolean {
    return (this.infra?.processes ?? []).every((p) => {
      const r = this.running.get(p.name);
      return this.infra!.isUp(p.name) && !this.incidents.isOpen(p.name) && r?.pid != null && !r.paused;
    });
  }

  /** Every node of `role` running, healthy and without an open incident. */
  private groupWhole(role: DemoRole): boolean {
    const group = this.nodes.filter((n) => n.role === role);
    return this.healthy.get(role)!.size === group.length && group.every((n) => !this.incidents.isOpen(n.name) && this.running.get(n.name)?.pid != null && !this.running.get(n.name)!.paused);
  }

  /** Whole again after the last fault (see SETTLE_AFTER_RESTORE_MS). */
  private settled(): boolean {
    return this.allHealthy() && this.incidents.openCount === 0 && systemClock.now() - this.incidents.lastRestoredAt >= SETTLE_AFTER_RESTORE_MS;
  }

  private allHealthy(): boolean {
    return (this.infra?.allUp ?? true) && this.nodes.every((n) => this.healthy.get(n.role)!.has(n.name)) && [...this.running.values()].every((r) => r.pid !== null && !r.paused);
  }

  private async waitAllHealthy(timeoutMs: number, why: string): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (!this.allHealthy()) {
      if (Date.now() > until) {
        const missing = [...(this.infra?.down ?? []), ...this.nodes.filter((n) => !this.healthy.get(n.role)!.has(n.name)).map((n) => n.name)];
        if (why === 'to start') {
          const said = missing.map((m) => `${m}${this.running.get(m)?.pid == null ? ' (not running)' : ''}: ${[this.gaveUp.get(m), this.lastExit.get(m), `it printed: ${this.lastLines.get(m)?.join(' | ') || 'nothing'}`].filter(Boolean).join('; ')}`);
          throw new Error(`steadfast demo: ${missing.join(', ')} did not become healthy within ${timeoutMs} ms ${why}; last output — ${said.join('; ')}`);
        }
        return false;
      }
      await sleep(50);
    }
    return true;
  }

  private onHealth(service: string, now: Set<string>): void {
    const before = this.healthy.get(service)!;
    this.healthy.set(service, now);
    const at = systemClock.now();
    for (const id of before) if (!now.has(id)) this.incidents.left(id, at);
    for (const id of now) if (!before.has(id)) this.incidents.back(id, at);
  }

  get leader(): string | undefined {
    return this.incidents.leader;
  }

  /** Reads every running node's /status; timeoutMs is longer for the counts at either end of the run, when a node under load may answer late. */
  private async poll(timeoutMs = 400): Promise<void> {
    // The registry's process and etcd members serve no status page of ours: their CPU time
    // comes from /proc, counted as the registry tier's.
    for (const p of this.infra?.processes ?? []) {
      const r = this.running.get(p.name);
      const micros = r && r.pid !== null ? procCpuMicros(r.pid) : undefined;
      if (micros !== undefined) this.counters.record(p.name, 'registry', r!.pid!, { cpuMicros: micros });
    }
    await Promise.all(
      this.nodes.map(async (n) => {
        const r = this.running.get(n.name);
        if (!r || r.pid === null || r.paused) return;
        const pid = r.pid;
        try {
          const sentAt = Date.now();
          const path = n.role === 'gateway' ? GATEWAY_STATUS_PATH : n.role === 'db' ? `/status?fencingAfter=${this.fencingLogs.after(n.name, pid)}` : '/status';
          const res = await request(`http://${n.host}:${n.port}${path}`, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
          if (res.statusCode === 200) {
            const detail = (await res.body.json()) as Record<string, unknown>;
            if (n.role === 'db') {
              const fencing = detail.fencing as { log?: unknown } | undefined;
              this.fencingLogs.record(n.name, pid, fencing?.log);
              if (fencing) delete fencing.log;
              // Wall-clock times, as the db nodes log theirs (one machine, one clock).
              if (detail.ready === true) this.registers.read(n.name, sentAt, Date.now(), detail.maintenance);
            }
            this.detail.set(n.name, detail);
            this.counters.record(n.name, n.role, pid, detail);
          } else await res.body.dump();
        } catch {
          // down or busy: the registry says which
        }
      }),
    );
  }

  private countsNow(): CountsSnapshot {
    const pid = this.client?.pid;
    return this.counters.snapshot(Date.now(), (pid !== undefined ? procCpuMicros(pid) : undefined) ?? 0);
  }

  /** Runs the load (and the chaos) for durationMs, then settles, reads everything back and reports. */
  async run(): Promise<DemoResult> {
    const o = this.options;
    const tracker = new AvailabilityTracker({ slo: o.slo, bucketMs: Math.max(250, Math.round(o.durationMs / 120)) });
    this.incidents.attach(tracker);
    // The client is a process of its own, as a real one is; it knows every gateway and fails
    // over between them (or goes through the comparison's front). It warms up first,
    // unmeasured, on the same connections: the same mix at the offered rate on carts of its own
    // (never read back), so connections and JIT reach their steady state — from cold, a queue
    // builds for the first seconds even well below capacity — and the run starts once the
    // warm-up's last answer is in, so that queue is not measured.
    const client = await DemoClient.start(o.nodeCommand, {
      urls: this.front?.url ?? this.gatewayUrls,
      ratePerSec: o.ratePerSec,
      durationMs: o.durationMs,
      warmUpMs: WARM_UP_MS,
      seed: o.seed,
      carts: o.carts,
      writeShare: o.writeShare,
      perTryTimeoutMs: DEMO_GATEWAY_TRY_TIMEOUT_MS,
      hedgeAfterMs: DEMO_CLIENT_HEDGE_MS,
      probe: { path: GATEWAY_PROBE_PATH, intervalMs: 100, timeoutMs: 1000 },
    });
    this.client = client;
    this.emit({ type: 'phase', text: `warming up for ${WARM_UP_MS / 1000} s at ${o.ratePerSec} req/s (not measured)` });
    let progress: ReturnType<typeof setInterval> | undefined;
    const started = (at: number): void => {
      this.startedAt = at;
      // Sheds and CPU are reported for the measured run only: counted from the first poll once it starts.
      void this.poll(COUNTS_POLL_TIMEOUT_MS).then(() => (this.countsAtStart ??= this.countsNow()));
      tracker.start(at);
      this.tracker = tracker;
      // No new fault near the end, so every incident heals while it is observed.
      if (o.chaos) {
        if (this.processFaults.length) this.chaos!.injectFaults({ until: at + o.durationMs - Math.max(o.pauseMs, o.restartDelayMs) - 3000 });
        this.network?.start({ until: at + o.durationMs - o.networkFaultMs - 3000 });
      }
      progress = setInterval(() => {
        const live = tracker.live();
        this.emit({
          type: 'progress',
          elapsedMs: systemClock.now() - this.startedAt,
          requests: live.requests,
          failed: live.failed,
          availability: live.requests ? (live.requests - live.failed) / live.requests : 1,
          faults: live.incidents.length,
          leader: this.leader,
        });
      }, 1000);
    };
    const loadSummary = await client.run({ started, answer: (ok, latencyMs, at) => tracker.recordRequest(ok, latencyMs, at), totals: (t) => (this.writeTotals = t) });
    clearInterval(progress);
    const endedAt = systemClock.now();
    // The end of the measured run, for the sheds and CPU time (a paused node: as of its last poll).
    await this.poll(COUNTS_POLL_TIMEOUT_MS);
    const counted = this.countsNow();
    if (!this.tracker) {
      // Stopped during the warm-up: nothing was measured.
      this.startedAt = endedAt;
      tracker.start(endedAt);
      this.tracker = tracker;
    }
    this.chaos!.stopInjecting();
    this.network?.stopInjecting();
    // A network fault still on is healed now (its incident restores once its targets are back).
    await this.network?.healNow();

    // Settle: the last fault heals, then every acknowledged write must be readable.
    this.emit({ type: 'phase', text: 'load done; waiting for every process to be healthy, then reading every cart back' });
    await this.waitAllHealthy(30_000, 'after the run');
    const historyResult = await client.readBack(this.gatewayUrls[0]!);
    // The maintenance writes taken since the last poll, then the fencing check over all of them.
    await this.poll(COUNTS_POLL_TIMEOUT_MS);
    const fencing = checkFencing(this.fencingLogs.history());
    const linearizable = this.registers.check(this.fencingLogs);
    const report = tracker.report(endedAt);
    const { shedding, cpu } = countsBetween(this.countsAtStart ?? counted, counted, report.requests, this.infra !== undefined);
    // Restores seen after the load stopped still count (recorded above, before report()).
    return {
      config: { ...o, nodeCommand: undefined, runId: this.runId },
      report,
      history: historyResult,
      lostWrites: historyResult.lost.length,
      fencing,
      linearizable,
      processes: this.processes().map((p) => ({ name: p.name, restarts: p.restarts, healthyAtEnd: p.status === 'passing', ...(this.gaveUp.has(p.name) ? { gaveUp: this.gaveUp.get(p.name)! } : {}) })),
      leadership: { changes: this.incidents.leaderChanges, staleClaims: this.incidents.staleClaims, failovers: this.incidents.failovers },
      faults: [...this.chaos!.records],
      network: { hosts: this.options.hosts, ...(this.net ? { subnet: `${this.net.subnet}.0/24` } : {}), faults: [...(this.network?.records ?? [])] },
      byKind: faultsByKind(report),
      failures: loadSummary.failures,
      degradedReads: loadSummary.totals.degradedReads,
      amplification: this.amplification(counted),
      shedding,
      cpu,
      load: {
        sent: loadSummary.sent,
        sendLagMs: loadSummary.sendLagMs,
        offeredPerSec: o.ratePerSec,
        goodputPerSec: loadSummary.overload.served / (loadSummary.durationMs / 1000),
        shed: loadSummary.overload.shed,
        deadline: loadSummary.overload.deadline,
        servedMs: loadSummary.servedMs,
        ...(loadSummary.failover ? { failover: loadSummary.failover } : {}),
      },
      ...(this.front ? { front: { events: [...(this.front.events ?? [])] } } : {}),
    };
  }

  /** What the dashboard shows. */
  state(): DemoState {
    const now = systemClock.now();
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
      config: { dbNodes: this.options.dbNodes, webNodes: this.options.webNodes, gateways: this.options.gateways, replicas: this.options.replicas, writeQuorum: this.options.writeQuorum, ratePerSec: this.options.ratePerSec, registry: this.options.registry, store: this.options.store, seed: this.options.seed, chaos: this.options.chaos },
      totals: { requests, failed, ...this.writeTotals, availability: requests ? (requests - failed) / requests : 1 },
      leader: this.incidents.leaderChanges.at(-1) ?? null,
      processes: this.processes(),
      client: this.client ? { pid: this.client.pid ?? null } : null,
      ring,
      series,
      incidents: (live?.incidents ?? []).map((i) => ({ ...i, t: sinceStart(i.at) })),
      failovers: this.incidents.failovers,
      tiers: this.tiers(live?.incidents ?? []),
    };
  }

  private tiers(incidents: { target: string }[]): DemoState['tiers'] {
    const counts = this.counters.snapshot();
    const infra = this.infra?.processes ?? [];
    const registry: DemoState['tiers'] = infra.length
      ? [{ role: infra[0]!.role, processes: infra.length, faults: incidents.filter((i) => this.infra!.has(i.target)).length, restarts: infra.reduce((sum, p) => sum + (this.running.get(p.name)?.restarts ?? 0), 0), shed: 0 }]
      : [];
    return [...registry, ...DEMO_ROLES.map((role) => {
      const names = new Set(this.nodes.filter((n) => n.role === role).map((n) => n.name));
      const c = counts[role];
      return {
        role,
        processes: names.size,
        faults: incidents.filter((i) => names.has(i.target)).length,
        restarts: [...names].reduce((sum, n) => sum + (this.running.get(n)?.restarts ?? 0), 0),
        shed: role === 'gateway' ? c.shed : c.shedByLimit + c.shedByHealth + c.expired,
      };
    })];
  }

  processes(): ProcessView[] {
    const registry: ProcessView[] = (this.infra?.processes ?? []).map((p) => {
      const r = this.running.get(p.name)!;
      const status: ProcessView['status'] = r.pid === null ? 'down' : r.paused ? 'paused' : this.infra!.isUp(p.name) ? 'passing' : 'critical';
      return { name: p.name, role: p.role, pid: r.pid, status, restarts: r.restarts, port: p.port, detail: this.infra!.detail(p.name) ?? null };
    });
    return [...registry, ...this.nodes.map((n) => {
      const r = this.running.get(n.name)!;
      const status: ProcessView['status'] = r.pid === null ? 'down' : r.paused ? 'paused' : this.healthy.get(n.role)!.has(n.name) ? 'passing' : 'critical';
      return { name: n.name, role: n.role, pid: r.pid, status, restarts: r.restarts, port: n.port, detail: this.detail.get(n.name) ?? null };
    })];
  }

  private amplification(counted: CountsSnapshot): DemoResult['amplification'] {
    const g = counted.gateway;
    const db = { calls: 0, requests: 0, hedges: 0, failovers: 0 };
    for (const n of this.nodes) {
      const s = (this.detail.get(n.name)?.db ?? undefined) as { reads?: number; writes?: number; requests?: number; hedges?: number; failovers?: number } | undefined;
      if (n.role !== 'web' || !s) continue;
      db.calls += (s.reads ?? 0) + (s.writes ?? 0);
      db.requests += s.requests ?? 0;
      db.hedges += s.hedges ?? 0;
      db.failovers += s.failovers ?? 0;
    }
    return { gateway: { requests: g.requests, attempts: g.attempts, retries: g.retries, hedges: g.hedges, markedRetries: g.markedRetries, budgetExhausted: g.budgetExhausted }, db };
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
    this.client?.kill();
    this.infra?.stop();
    await this.front?.stop();
    for (const w of this.watches) w.dispose();
    const dashboard = this.dashboard;
    if (dashboard) {
      await new Promise<void>((resolve) => {
        dashboard.close(() => resolve());
        dashboard.closeAllConnections();
      });
    }
    await this.network?.stop().catch(() => {});
    await this.chaos?.stop().catch(() => {});
    await this.registry?.close().catch(() => {});
    // Every namespace, link and rule this run made (a run killed before this is swept by the next).
    await this.net?.destroy().catch((err: Error) => this.emit({ type: 'phase', text: err.message }));
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
