import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import { CAPACITY_BOUNDS, CAPACITY_RATES, DEMO_DEFAULTS, DEMO_FAULTS, DEMO_RANGES, DemoSystem, type DemoFault, findCapacity, type CapacityResult, type DemoEvent, type DemoOptions, type DemoResult, type SheddingTotals } from '../demo/system.js';
import { renderHtmlReport } from '../metrics/report/html.js';
import { formatReport } from '../metrics/report/terminal.js';
import { numberIn } from './args.js';

function registryUrl(value: string): string {
  if (value === 'embedded' || value === 'etcd-cluster' || /^etcd:\/\/[^/:]+:\d+(,[^/:]+:\d+)*\/?$/.test(value)) return value;
  throw new InvalidArgumentError(`must be 'embedded', 'etcd-cluster' or etcd://host:port[,host:port…], got '${value}'`);
}
function storeUrl(value: string): string {
  if (value === 'file' || /^rediss?:\/\/.+/.test(value)) return value;
  throw new InvalidArgumentError(`must be 'file' or redis://host:port[/db], got '${value}'`);
}
function detectorKind(value: string): 'ttl' | 'phi' {
  if (value === 'ttl' || value === 'phi') return value;
  throw new InvalidArgumentError(`must be 'ttl' (a fixed TTL) or 'phi' (φ accrual over the heartbeat intervals), got '${value}'`);
}
function rateList(value: string): number[] {
  const list = value.split(',').map((s) => Number(s.trim()));
  const bad = list.findIndex((r, i) => !Number.isFinite(r) || r < DEMO_RANGES.ratePerSec.min || r > DEMO_RANGES.ratePerSec.max || (i > 0 && r <= list[i - 1]!));
  if (bad >= 0) throw new InvalidArgumentError(`must be increasing rates from ${DEMO_RANGES.ratePerSec.min} to ${DEMO_RANGES.ratePerSec.max} req/s, comma separated; got '${value}'`);
  return list;
}
function faultList(value: string): DemoFault[] {
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0 || list.some((f) => !(DEMO_FAULTS as readonly string[]).includes(f))) throw new InvalidArgumentError(`must be a comma list of ${DEMO_FAULTS.join(', ')}, got '${value}'`);
  return list as DemoFault[];
}
function hostsMode(value: string): 'loopback' | 'namespaces' {
  if (value === 'loopback' || value === 'namespaces') return value;
  throw new InvalidArgumentError(`must be 'loopback' (every process on 127.0.0.1) or 'namespaces' (each in a network namespace of its own; needs root and iptables), got '${value}'`);
}

const secs = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'Run a fault-tolerant web app + database on this machine — db nodes on a consistent-hash ring (R replicas, W acks, checkpoints), ' +
        'web replicas behind two gateways, a registry, a leader-elected maintenance task, each its own process — under open-loop load ' +
        'from a client that knows both gateways, while a seeded chaos schedule SIGKILLs, SIGSTOPs or restarts any of them; live dashboard, then availability, MTTD, MTTR, MTBF, ' +
        'failure rate and lost acknowledged writes.',
    )
    .option('-d, --duration <seconds>', 'how long the load runs', numberIn(DEMO_RANGES.durationMs.min / 1000, DEMO_RANGES.durationMs.max / 1000), 60)
    .option('-r, --rate <per-second>', 'open-loop requests per second (30 % writes)', numberIn(DEMO_RANGES.ratePerSec.min, DEMO_RANGES.ratePerSec.max), DEMO_DEFAULTS.ratePerSec)
    .option('-s, --seed <n>', 'seed of the load mix and the fault schedule', numberIn(DEMO_RANGES.seed.min, DEMO_RANGES.seed.max, { integer: true }), DEMO_DEFAULTS.seed)
    .option('--no-chaos', 'no faults: the same system and load, for a baseline')
    .option('--faults <list>', `faults to draw from: ${DEMO_FAULTS.join(',')} (restart: graceful SIGTERM, node by node — a rolling deploy; partition: a db node isolated, the leader cut from the registry, or a minority split off; loss: 30 % of a node's packets dropped; flap: a node's link down and up; skew: the leader's clock ±5 s off and drifting). partition, loss and flap run every process in a network namespace of its own (root, iptables)`, faultList)
    .option('--hosts <mode>', "'loopback' (every process on 127.0.0.1) or 'namespaces' (each its own host on a bridge; the default with partition, loss or flap)", hostsMode)
    .option('--network-fault <ms>', 'how long each partition, loss, flap or skew lasts before it is healed', numberIn(DEMO_RANGES.networkFaultMs.min, DEMO_RANGES.networkFaultMs.max, { integer: true }), DEMO_DEFAULTS.networkFaultMs)
    .option('--fault-interval <ms>', 'mean time between faults', numberIn(DEMO_RANGES.faultIntervalMs.min, DEMO_RANGES.faultIntervalMs.max, { integer: true }), DEMO_DEFAULTS.faultIntervalMs)
    .option('--max-concurrent-faults <n>', 'faults open at once, at most one per replica group (3: a db node, a web node and a gateway down together)', numberIn(DEMO_RANGES.maxConcurrentFaults.min, DEMO_RANGES.maxConcurrentFaults.max, { integer: true }), DEMO_DEFAULTS.maxConcurrentFaults)
    .option('--registry <url>', "'embedded' (steadfast's Consul-compatible registry, its own process, faulted too), 'etcd-cluster' (3 etcd members the demo runs and faults) or etcd://host:port (yours, not faulted)", registryUrl, DEMO_DEFAULTS.registry)
    .option('--detector <kind>', "how the registry judges each node's heartbeats: 'ttl' (critical after the TTL) or 'phi' (φ accrual: far fewer false suspicions on a lossy or flapping network, about twice the time to detect a crash — bench:detection-network)", detectorKind, DEMO_DEFAULTS.detector)
    .option('--store <url>', "checkpoints: 'file' (a temporary folder) or redis://host:port", storeUrl, DEMO_DEFAULTS.store)
    .option('--db <n>', 'db nodes', numberIn(DEMO_RANGES.dbNodes.min, DEMO_RANGES.dbNodes.max, { integer: true }), DEMO_DEFAULTS.dbNodes)
    .option('--web <n>', 'web replicas', numberIn(DEMO_RANGES.webNodes.min, DEMO_RANGES.webNodes.max, { integer: true }), DEMO_DEFAULTS.webNodes)
    .option('--gateways <n>', 'gateways, each its own process; the load fails over between them', numberIn(DEMO_RANGES.gateways.min, DEMO_RANGES.gateways.max, { integer: true }), DEMO_DEFAULTS.gateways)
    .option('--replicas <r>', 'replicas per key (≤ --db)', numberIn(DEMO_RANGES.replicas.min, DEMO_RANGES.replicas.max, { integer: true }), DEMO_DEFAULTS.replicas)
    .option('--write-quorum <w>', 'acknowledgements a write needs (≤ --replicas; default: --replicas)', numberIn(1, 9, { integer: true }))
    .option('-p, --port <port>', 'dashboard port (the gateways take free ports, printed at the start); 0 = any free port', numberIn(DEMO_RANGES.port.min, DEMO_RANGES.port.max, { integer: true }), DEMO_DEFAULTS.port)
    .option('--data-dir <dir>', 'where file checkpoints go (default: a temporary folder, removed after)')
    .option('--slo <ratio>', 'availability objective', numberIn(DEMO_RANGES.slo.min, DEMO_RANGES.slo.max), DEMO_DEFAULTS.slo)
    .option('--json <file>', 'write the result (report, writes, leadership, faults) as JSON')
    .option('--html <file>', 'write a self-contained HTML report')
    .option('-q, --quiet', 'no progress lines')
    .option('--find-capacity', `instead of one run: the highest rate at which the system, without faults, keeps p99 ≤ ${CAPACITY_BOUNDS.p99Ms} ms and answers ≥ ${CAPACITY_BOUNDS.answered * 100} % — one fresh system per rate, in increasing order, until one misses`)
    .option('--rates <list>', 'with --find-capacity: the rates to try, increasing', rateList, [...CAPACITY_RATES])
    .option('--step <seconds>', 'with --find-capacity: how long each rate runs (after the 4 s warm-up)', numberIn(DEMO_RANGES.durationMs.min / 1000, DEMO_RANGES.durationMs.max / 1000), 10)
    .action(async (opts: { findCapacity?: boolean; rates: number[]; step: number; duration: number; rate: number; seed: number; chaos: boolean; faults?: DemoFault[]; hosts?: 'loopback' | 'namespaces'; networkFault: number; faultInterval: number; maxConcurrentFaults: number; registry: string; detector: 'ttl' | 'phi'; store: string; db: number; web: number; gateways: number; replicas: number; writeQuorum?: number; port: number; dataDir?: string; slo: number; json?: string; html?: string; quiet?: boolean }) => {
      const out = process.stdout;
      if (opts.replicas > opts.db) {
        process.stderr.write(`steadfast demo: --replicas ${opts.replicas} is more than --db ${opts.db}; use at most ${opts.db}\n`);
        process.exitCode = 2;
        return;
      }
      if (opts.writeQuorum !== undefined && opts.writeQuorum > opts.replicas) {
        process.stderr.write(`steadfast demo: --write-quorum ${opts.writeQuorum} is more than --replicas ${opts.replicas}; use at most ${opts.replicas}\n`);
        process.exitCode = 2;
        return;
      }
      const say = (line: string): void => void (opts.quiet ? undefined : out.write(line + '\n'));
      const onEvent = (e: DemoEvent): void => {
        switch (e.type) {
          case 'phase':
            say(`  ${e.text}`);
            break;
          case 'started':
            out.write(`\n  gateways   ${e.gateways.map((g) => `${g}/api/carts/c1`).join('  ')}\n  dashboard  ${e.dashboard}\n  registry   ${e.registry}${e.registry.startsWith('http') ? `/v1/health/service/web?passing\n  metrics    every process's /metrics, listed at ${e.registry}/v1/catalog/services (service meta metrics_path)` : ''}\n${e.dataDir ? `  data       ${e.dataDir}\n` : ''}\n`);
            break;
          case 'fault':
            say(`  fault #${e.id}: ${e.label ? `${e.label} (${e.target})` : `${e.kind} ${e.target} (pid ${e.pid})`}`);
            break;
          case 'detected':
            say(`     #${e.id} ${e.target} marked unhealthy after ${secs(e.ms)}`);
            break;
          case 'restored':
            say(`     #${e.id} ${e.target} healthy again after ${secs(e.ms)}`);
            break;
          case 'leader':
            say(`  maintenance leader: ${e.leader} (fencing token ${e.token})`);
            break;
          case 'progress':
            say(`  ${String(Math.round(e.elapsedMs / 1000)).padStart(4)} s  ${e.requests} requests, ${e.failed} failed, availability ${(e.availability * 100).toFixed(3)} %, ${e.faults} faults`);
            break;
        }
      };
      const options: DemoOptions = {
        durationMs: Math.round(opts.duration * 1000),
        ratePerSec: opts.rate,
        seed: opts.seed,
        chaos: opts.chaos,
        ...(opts.faults ? { faults: opts.faults } : {}),
        ...(opts.hosts ? { hosts: opts.hosts } : {}),
        networkFaultMs: opts.networkFault,
        faultIntervalMs: opts.faultInterval,
        maxConcurrentFaults: opts.maxConcurrentFaults,
        registry: opts.registry,
        detector: opts.detector,
        store: opts.store,
        dbNodes: opts.db,
        webNodes: opts.web,
        gateways: opts.gateways,
        replicas: opts.replicas,
        ...(opts.writeQuorum !== undefined ? { writeQuorum: opts.writeQuorum } : {}),
        port: opts.port,
        ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
        slo: opts.slo,
        nodeCommand: [process.execPath, process.argv[1]!],
      };
      if (opts.findCapacity) {
        process.exitCode = await runFindCapacity(options, opts.rates, opts.step, opts.json, say);
        return;
      }
      out.write(`steadfast demo: ${opts.duration} s at ${opts.rate} req/s, seed ${opts.seed}, ${opts.chaos ? `a fault every ~${opts.faultInterval / 1000} s` : 'no faults'}; registry ${opts.registry}, store ${opts.store}\n`);
      const system = new DemoSystem(options);
      system.on('event', onEvent);
      // Ctrl-C stops every node before exiting.
      const interrupt = (signal: NodeJS.Signals): void => {
        process.stderr.write(`\nsteadfast demo: ${signal}, stopping every process…\n`);
        void system.stop().finally(() => process.exit(130));
      };
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      let result: DemoResult;
      try {
        await system.start();
        result = await system.run();
      } finally {
        await system.stop();
      }
      out.write('\n' + formatDemoResult(result) + '\n');
      if (opts.json) writeFileSync(opts.json, JSON.stringify(result, null, 2) + '\n');
      if (opts.html) writeFileSync(opts.html, renderHtmlReport(result.report, { title: 'steadfast demo: a web app + database under injected faults', history: { lost: result.lostWrites, unknown: result.history.unknown, acknowledged: result.history.acknowledged } }));
      if (opts.json || opts.html) out.write(`report written to ${[opts.json, opts.html].filter(Boolean).join(' and ')}\n`);
      if (result.lostWrites > 0) {
        process.stderr.write(`steadfast demo: ${result.lostWrites} acknowledged writes were lost: ${result.history.lost.slice(0, 10).join(', ')}\n`);
        process.exitCode = 1;
      }
      if (result.linearizable?.valid === false) {
        process.stderr.write(`steadfast demo: a db node's maintenance record is not linearizable (see "linearizable" in the report)\n`);
        process.exitCode = 1;
      }
      if (result.fencing && !result.fencing.valid) {
        process.stderr.write(`steadfast demo: ${result.fencing.violations.length} maintenance writes were accepted with a stale or shared fencing token (see "fencing" in the report)\n`);
        process.exitCode = 1;
      }
    });
}

export function formatDemoResult(r: DemoResult): string {
  const lines = [formatReport(r.report, { lost: r.lostWrites, unknown: r.history.unknown, acknowledged: r.history.acknowledged })];
  if (r.network) lines.push('', `hosts                     ${r.network.hosts === 'namespaces' ? `network namespaces: each process its own host on ${r.network.subnet ?? 'a bridge'}` : 'loopback: every process on 127.0.0.1'}${r.network.faults.length ? `; ${r.network.faults.length} network faults (${r.network.faults.filter((f) => f.error).length} failed to apply)` : ''}`);
  if (r.byKind?.length) {
    lines.push('', 'fault kind   incidents  detected (median)    restored (median)    failed requests (incidents seen)');
    for (const k of r.byKind) lines.push(`${k.kind.padEnd(12)} ${String(k.incidents).padStart(9)}  ${`${k.detected}${k.detectMedianMs === null ? '' : ` (${secs(k.detectMedianMs)})`}`.padEnd(19)}  ${`${k.restored}${k.restoreMedianMs === null ? '' : ` (${secs(k.restoreMedianMs)})`}`.padEnd(19)}  ${k.failedRequests} (${k.visible})`);
  }
  const restarts = r.processes.filter((p) => p.restarts > 0).map((p) => `${p.name} ×${p.restarts}`);
  lines.push('', `processes                 ${r.processes.length} (${r.processes.filter((p) => p.healthyAtEnd).length} healthy at the end); restarted: ${restarts.length ? restarts.join(', ') : 'none'}`);
  for (const p of r.processes.filter((x) => x.gaveUp !== undefined)) lines.push(`left down                 ${p.name}: ${p.gaveUp}`);
  const fo = r.leadership.failovers;
  lines.push(`maintenance leader        ${r.leadership.changes.length} elections${r.leadership.staleClaims?.length ? ` (${r.leadership.staleClaims.length} stale claims of a replica that had lost its lease, with a lower token: refused by the db nodes)` : ''}${fo.length ? `; after a fault on the leader a new one led in ${fo.map((f) => secs(f.ms)).join(', ')}` : ''}`);
  lines.push(`degraded reads            ${r.degradedReads} answered from fewer than R replicas (counted as available)`);
  const l = r.load;
  if (l.offeredPerSec !== undefined) {
    lines.push(`overload                  offered ${l.offeredPerSec.toFixed(0)} req/s, goodput ${l.goodputPerSec.toFixed(0)} req/s (2xx); shed ${l.shed} (503/429), ${l.deadline} past their deadline (504); served p50/p99 ${l.servedMs.p50.toFixed(1)} / ${l.servedMs.p99.toFixed(1)} ms`);
  }
  const a = r.amplification;
  if (a !== undefined) {
    const per = (x: number, n: number): string => (n > 0 ? `${(x / n).toFixed(2)}×` : '—');
    lines.push(`attempts per request      gateways → web ${per(a.gateway.attempts, a.gateway.requests)} (${a.gateway.retries} retries, of them ${a.gateway.hedges} hedges; ${a.gateway.budgetExhausted} refused by the budget); web → db ${per(a.db.requests, a.db.calls)} per db call (R fan-out included; ${a.db.hedges} hedges, ${a.db.failovers} failovers)`);
  }
  const sh = r.shedding;
  if (sh !== undefined) {
    const tier = (t: SheddingTotals['db']): string => `${t.shedByLimit + t.shedByHealth} of ${t.admitted + t.shedByLimit + t.shedByHealth} (${t.shedByLimit} by the limit, ${t.shedByHealth} on health), ${t.expired} past deadline`;
    lines.push(`shed inside the system    gateways ${sh.gateway}; web ${tier(sh.web)}; db ${tier(sh.db)}`);
  }
  const c = r.cpu;
  if (c !== undefined) {
    const use = (u: DemoResult['cpu']['db']): string => `${u.perRequestMs === null ? '—' : `${u.perRequestMs.toFixed(3)} ms`} (${u.cores.toFixed(2)} cores)`;
    // A report saved by an older build has no client row (the supervisor ran the load then).
    const cores = c.db.cores + c.web.cores + c.gateway.cores + (c.registry?.cores ?? 0) + c.supervisor.cores + (c.client?.cores ?? 0);
    lines.push(`cpu per request           db tier ${use(c.db)}, web tier ${use(c.web)}, gateways ${use(c.gateway)}, ${c.registry ? `registry ${use(c.registry)}, ` : ''}supervisor — chaos, probes, dashboard — ${use(c.supervisor)}${c.client ? `, load's client ${use(c.client)}` : ''}; ${cores.toFixed(2)} of ${availableParallelism()} cores busy`);
  }
  if (l.failover) {
    const by = Object.entries(l.failover.answeredBy).map(([u, n]) => `${new URL(u).port} ${n}`).join(', ');
    lines.push(`client failover           ${l.failover.retries} requests sent again to another gateway after a failed try, ${l.failover.hedges ?? 0} hedged to the other gateway while the first try ran; answered per gateway port: ${by}`);
  }
  lines.push(`load generator lag        p99 ${r.load.sendLagMs.p99.toFixed(1)} ms, max ${r.load.sendLagMs.max.toFixed(1)} ms behind its schedule`);
  lines.push(`history check             ${r.history.valid ? 'valid' : 'INVALID'}: ${r.history.confirmed} acknowledged writes read back, ${r.history.lost.length} lost, ${r.history.unknown} unknown (${r.history.recovered.length} of them applied), ${r.history.failedButPresent.length} failed-but-present`);
  if (r.fencing) {
    const f = r.fencing;
    const first = f.violations[0];
    lines.push(`fencing check             ${f.valid ? 'valid' : 'INVALID'}: ${f.writes} maintenance writes seen on ${f.resources} db nodes, ${f.rejected} refused for a stale token, ${f.violations.length} accepted that should not have been${first ? ` (first: ${first.resource} took token ${first.token}${first.writer ? ` from ${first.writer}` : ''} after ${first.highest}${first.highestWriter ? ` from ${first.highestWriter}` : ''}: ${first.kind})` : ''}`);
  }
  if (r.linearizable) {
    const l = r.linearizable;
    const c = l.counterexample;
    lines.push(`linearizability check     ${l.valid === true ? 'valid' : l.valid === false ? 'INVALID' : `unknown (${l.reason ?? 'search budget spent'})`}: each db node's maintenance record as a register — ${l.writes} writes, ${l.reads} reads, ${l.reconstructed} records read that no log showed (their node was killed before the next poll)${c ? `; on ${c.partition}: ${c.stuck.op} cannot follow ${c.linearized.slice(-3).map((x) => x.op).join(', ')}` : ''}`);
  }
  return lines.join('\n');
}

/**
 * `steadfast demo --find-capacity`: one fresh, fault-free system per rate, in increasing order,
 * until a rate misses a bound; prints each step as it ends, then the capacity and where the CPU
 * went at it. Exit code 0, or 1 if an acknowledged write was lost.
 */
async function runFindCapacity(base: DemoOptions, rates: number[], stepSeconds: number, json: string | undefined, say: (line: string) => void): Promise<number> {
  const out = process.stdout;
  out.write(`steadfast demo --find-capacity: ${rates.join(', ')} req/s, ${stepSeconds} s each after a 4 s warm-up, no faults; bounds p99 ≤ ${CAPACITY_BOUNDS.p99Ms} ms and ≥ ${CAPACITY_BOUNDS.answered * 100} % answered (2xx)\n\n`);
  out.write('  offered req/s   requests   answered     p99 ms   goodput req/s   lag p99 ms   within bounds\n');
  let current: DemoSystem | undefined;
  const interrupt = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\nsteadfast demo: ${signal}, stopping every process…\n`);
    void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  let result: CapacityResult;
  try {
    result = await findCapacity(
      async (rate) => {
        say(`  … ${rate} req/s`);
        const system = (current = new DemoSystem({ ...base, ratePerSec: rate, durationMs: Math.round(stepSeconds * 1000), chaos: false }));
        try {
          await system.start();
          return await system.run();
        } finally {
          await system.stop();
          current = undefined;
        }
      },
      rates,
      {
        onStep: (s) =>
          out.write(`  ${String(s.rate).padStart(13)}   ${String(s.requests).padStart(8)}   ${(s.answered * 100).toFixed(3).padStart(7)} %   ${s.p99Ms.toFixed(1).padStart(8)}   ${s.goodputPerSec.toFixed(0).padStart(13)}   ${s.sendLagP99Ms.toFixed(1).padStart(10)}   ${s.holds ? 'yes' : 'no'}\n`),
      },
    );
  } catch (err) {
    process.stderr.write(`steadfast demo: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  const held = result.steps.filter((s) => s.holds).at(-1);
  const capacity = result.capacity === null ? `below ${rates[0]} req/s (the lowest rate tried missed a bound)` : `${result.capacity} req/s${result.atHighestRate ? ' or more (the highest rate tried still held)' : ''}`;
  out.write(`\ncapacity                  ${capacity}\n`);
  if (held) out.write(`cpu per request there     ${Object.entries(held.cpuPerRequestMs).map(([k, v]) => `${k} ${v === null ? '—' : `${v.toFixed(3)} ms`}`).join(', ')}\n`);
  if (json) {
    writeFileSync(json, JSON.stringify(result, null, 2) + '\n');
    out.write(`result written to ${json}\n`);
  }
  return 0;
}
