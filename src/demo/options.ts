import { fileURLToPath } from 'node:url';
import type { ProcessFault } from '../chaos/process-chaos.js';
import { NETWORK_FAULTS, type NetworkFault } from '../chaos/network-chaos.js';
import { networkHostsMissing } from '../chaos/netns.js';
import { InvalidOptionError } from '../core/errors.js';
import { loadPackage } from '../core/packages.js';
import { findEtcd } from './infra.js';
import { checkBoolean, checkInteger, checkNumber, checkOneOf, checkOptions, checkString } from '../core/options.js';

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
  /** Gateways in front of web, each its own process; the load's client knows them all and fails over between them. Default 2. */
  gateways?: number;
  /** Replicas per key (R). Default 2. */
  replicas?: number;
  /** Acknowledgements a write needs (W). Default: R. */
  writeQuorum?: number;
  /** Open-loop requests per second through the gateways. Default 1000 (about half of what the demo serves on 2 cores). */
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
  /**
   * How many faults may be open at once, at most one per replica group (the db nodes, the web
   * nodes, the gateways): with 3, a db node, a web node and a gateway can be down together.
   * Default 1: the next fault waits until the system is whole again.
   */
  maxConcurrentFaults?: number;
  /**
   * Default ['kill', 'pause']; 'restart' adds graceful restarts (SIGTERM), walking the nodes one
   * by one — a rolling deploy. Network faults — 'partition' (a db node isolated, the leader cut
   * off from the registry while it still reaches the db, a majority/minority split), 'loss' (30 %
   * of one node's packets dropped), 'flap' (one node's link down and up) — need `hosts:
   * 'namespaces'`; 'skew' sets the elected leader's clock ±5 s off, drifting ±200 ms a second.
   */
  faults?: DemoFault[];
  /**
   * 'loopback': every process on 127.0.0.1. 'namespaces': each in a Linux network namespace of
   * its own, with its own address on a bridge (needs root, ip and iptables), so network faults
   * can cut, thin or flap the links between them. Default: 'namespaces' when a network fault is
   * asked for, else 'loopback'.
   */
  hosts?: 'loopback' | 'namespaces';
  /** How long each network fault (partition, loss, flap, skew) lasts before it is healed. Default 2500. */
  networkFaultMs?: number;
  /** How long a SIGSTOP lasts. Default 1500 (3000 with etcd, whose shortest lease is about 2 s: a shorter pause goes unseen). */
  pauseMs?: number;
  /** A killed process is restarted after this long. Default 300. */
  restartDelayMs?: number;
  /**
   * 'embedded' (steadfast's Consul-compatible registry, in a process of its own that the chaos
   * faults too), 'etcd-cluster' (a 3-member etcd cluster the demo starts, each member faulted
   * too; needs the etcd binary, Debian's etcd-server) or etcd://host:port[,host:port…] (your
   * etcd, not faulted). Default 'embedded'.
   */
  registry?: string;
  /** 'file' (a folder per run) or redis://host:port[/db]. Default 'file'. */
  store?: string;
  /** Where file checkpoints go. Default: a new temporary folder, removed at the end. */
  dataDir?: string;
  /** The dashboard's port (the gateways listen on free ports, printed at the start). Default 0 (any free port). */
  port?: number;
  /** Availability objective. Default 0.999. */
  slo?: number;
  /** TTL of each node's health check. Default 500. */
  ttlMs?: number;
  /**
   * How the registry judges each node's heartbeats: 'ttl' (critical after ttlMs without one) or
   * 'phi' (φ accrual over the heartbeat intervals, allowing a pause of ttlMs less one interval:
   * measured with bench:detection-network against a 500 ms TTL: no false suspicion under 30 % loss or a
   * flapping link where the TTL had many, and about twice the time to detect a crash). Default 'ttl'.
   */
  detector?: 'ttl' | 'phi';
  /** The command that runs a node: it is given `demo-node` and reads STEADFAST_DEMO_NODE. Default: this package's CLI. */
  nodeCommand?: string[];
  /**
   * For comparisons: send the load through another front instead of steadfast's gateways (they
   * still run, and are not faulted: they are off the load's path). Called once the web replicas are up, with their names and
   * ports; bench:demo starts a real HAProxy here (bench/haproxy.mjs).
   */
  front?: (webs: { name: string; port: number }[]) => Promise<DemoFront>;
}

/** The ranges the library and `steadfast demo` both accept (the CLI takes durationMs in seconds). */
export const DEMO_RANGES = Object.freeze({
  durationMs: { min: 1000, max: 86_400_000 },
  dbNodes: { min: 1, max: 9 },
  webNodes: { min: 1, max: 9 },
  gateways: { min: 1, max: 4 },
  replicas: { min: 1, max: 9 },
  ratePerSec: { min: 1, max: 50_000 },
  writeShare: { min: 0, max: 1 },
  carts: { min: 1, max: 1_000_000 },
  seed: { min: 0, max: 2 ** 32 - 1 },
  faultIntervalMs: { min: 100, max: 86_400_000 },
  maxConcurrentFaults: { min: 1, max: 3 },
  pauseMs: { min: 1, max: 600_000 },
  restartDelayMs: { min: 0, max: 600_000 },
  port: { min: 0, max: 65535 },
  slo: { min: 0.5, max: 0.999999 },
  ttlMs: { min: 100, max: 60_000 },
  networkFaultMs: { min: 100, max: 600_000 },
});

/** Every fault the demo injects: a process's (ProcessChaos) or the network's and clocks' (NetworkChaos). */
export type DemoFault = ProcessFault | NetworkFault;
export const DEMO_FAULTS: readonly DemoFault[] = ['kill', 'pause', 'restart', ...NETWORK_FAULTS];
/** The faults that need each process in a network namespace of its own. */
export const NAMESPACE_FAULTS: readonly DemoFault[] = ['partition', 'loss', 'flap'];

export function isNetworkFault(f: DemoFault): f is NetworkFault {
  return (NETWORK_FAULTS as readonly string[]).includes(f);
}

export const DEMO_DEFAULTS = Object.freeze({
  dbNodes: 3,
  webNodes: 3,
  gateways: 2,
  replicas: 2,
  ratePerSec: 1000,
  writeShare: 0.3,
  carts: 200,
  seed: 7,
  chaos: true,
  faultIntervalMs: 4000,
  maxConcurrentFaults: 1,
  pauseMs: 1500,
  restartDelayMs: 300,
  registry: 'embedded',
  store: 'file',
  port: 0,
  slo: 0.999,
  ttlMs: 500,
  detector: 'ttl',
  networkFaultMs: 2500,
});

/** The options after validation, every default applied. */
export type ResolvedDemoOptions = Required<Omit<DemoOptions, 'dataDir' | 'writeQuorum' | 'faults' | 'nodeCommand' | 'front'>> & { writeQuorum: number; faults: DemoFault[]; nodeCommand: string[]; front: DemoOptions['front']; dataDir?: string };

/** Validates the demo's options (naming the option and its range) and applies the defaults. */
export function resolveDemoOptions(options: DemoOptions): ResolvedDemoOptions {
  const scope = 'runDemo';
  if (options === undefined) throw new InvalidOptionError(`${scope}: options { durationMs } are required`);
  const o = checkOptions<DemoOptions>(scope, options, [
    'durationMs', 'dbNodes', 'webNodes', 'gateways', 'replicas', 'writeQuorum', 'ratePerSec', 'writeShare', 'carts', 'seed', 'chaos', 'faultIntervalMs', 'maxConcurrentFaults', 'faults', 'pauseMs', 'restartDelayMs', 'registry', 'store', 'dataDir', 'port', 'slo', 'ttlMs', 'detector', 'nodeCommand', 'front', 'hosts', 'networkFaultMs',
  ]);
  const d = DEMO_DEFAULTS;
  const dbNodes = checkInteger(scope, 'dbNodes', o.dbNodes ?? d.dbNodes, DEMO_RANGES.dbNodes);
  const replicas = checkInteger(scope, 'replicas', o.replicas ?? Math.min(d.replicas, dbNodes), { min: DEMO_RANGES.replicas.min, max: dbNodes });
  const registry = checkString(scope, 'registry', o.registry ?? d.registry);
  if (registry !== 'embedded' && registry !== 'etcd-cluster' && !registry.startsWith('etcd://')) throw new InvalidOptionError(`${scope}: registry must be 'embedded', 'etcd-cluster' or etcd://host:port, got ${JSON.stringify(registry)}`);
  if (registry.startsWith('etcd://')) parseEtcd(registry);
  if (registry === 'etcd-cluster' && !findEtcd()) throw new InvalidOptionError(`${scope}: registry 'etcd-cluster' runs etcd members, and no etcd binary was found on PATH or in /usr/bin: install it (apt-get install -y etcd-server) or set STEADFAST_ETCD to its path`);
  const store = checkString(scope, 'store', o.store ?? d.store);
  if (store !== 'file' && !/^rediss?:\/\//.test(store)) throw new InvalidOptionError(`${scope}: store must be 'file' or redis://host:port, got ${JSON.stringify(store)}`);
  // Say so now, not from inside six node processes: the backends are optional packages.
  if (store !== 'file') loadPackage('ioredis', `the demo with --store ${store}`);
  if (registry !== 'embedded') loadPackage('etcd3', `the demo with --registry ${registry}`);
  const faults = o.faults ?? ['kill', 'pause'];
  if (!Array.isArray(faults) || faults.length === 0 || faults.some((f) => !DEMO_FAULTS.includes(f))) throw new InvalidOptionError(`${scope}: faults must be a non-empty list of ${DEMO_FAULTS.join(', ')}, got ${JSON.stringify(faults)}`);
  const hosts = checkOneOf(scope, 'hosts', o.hosts ?? (faults.some((f) => NAMESPACE_FAULTS.includes(f)) ? 'namespaces' : 'loopback'), ['loopback', 'namespaces'] as const);
  const needsNs = faults.filter((f) => NAMESPACE_FAULTS.includes(f));
  if (hosts === 'loopback' && needsNs.length) throw new InvalidOptionError(`${scope}: faults ${needsNs.join(', ')} cut links between processes, which needs hosts: 'namespaces' (on 127.0.0.1 every process shares one network)`);
  if (hosts === 'namespaces') {
    const missing = networkHostsMissing();
    if (missing) throw new InvalidOptionError(`${scope}: hosts 'namespaces'${needsNs.length ? ` (for the ${needsNs.join(', ')} faults)` : ''}: ${missing}`);
    if (registry !== 'embedded') throw new InvalidOptionError(`${scope}: hosts 'namespaces' runs with the embedded registry only, got registry ${JSON.stringify(registry)}`);
    if (store !== 'file') throw new InvalidOptionError(`${scope}: hosts 'namespaces' runs with the file store only (a Redis on this machine's 127.0.0.1 is not reachable from inside a namespace), got store ${JSON.stringify(store)}`);
    if (o.front !== undefined) throw new InvalidOptionError(`${scope}: hosts 'namespaces' cannot be combined with a comparison's front`);
  }
  const nodeCommand = o.nodeCommand ?? [process.execPath, fileURLToPath(new URL('../cli/index.js', import.meta.url))];
  if (!Array.isArray(nodeCommand) || nodeCommand.length === 0 || nodeCommand.some((c) => typeof c !== 'string')) throw new InvalidOptionError(`${scope}: nodeCommand must be [executable, ...args]`);
  const resolved: ResolvedDemoOptions = {
    durationMs: checkInteger(scope, 'durationMs', o.durationMs, DEMO_RANGES.durationMs),
    dbNodes,
    webNodes: checkInteger(scope, 'webNodes', o.webNodes ?? d.webNodes, DEMO_RANGES.webNodes),
    gateways: checkInteger(scope, 'gateways', o.gateways ?? d.gateways, DEMO_RANGES.gateways),
    replicas,
    writeQuorum: checkInteger(scope, 'writeQuorum', o.writeQuorum ?? replicas, { min: 1, max: replicas }),
    ratePerSec: checkNumber(scope, 'ratePerSec', o.ratePerSec ?? d.ratePerSec, DEMO_RANGES.ratePerSec),
    writeShare: checkNumber(scope, 'writeShare', o.writeShare ?? d.writeShare, DEMO_RANGES.writeShare),
    carts: checkInteger(scope, 'carts', o.carts ?? d.carts, DEMO_RANGES.carts),
    seed: checkInteger(scope, 'seed', o.seed ?? d.seed, DEMO_RANGES.seed),
    chaos: checkBoolean(scope, 'chaos', o.chaos ?? d.chaos),
    faultIntervalMs: checkInteger(scope, 'faultIntervalMs', o.faultIntervalMs ?? d.faultIntervalMs, DEMO_RANGES.faultIntervalMs),
    maxConcurrentFaults: checkInteger(scope, 'maxConcurrentFaults', o.maxConcurrentFaults ?? d.maxConcurrentFaults, DEMO_RANGES.maxConcurrentFaults),
    faults,
    pauseMs: checkInteger(scope, 'pauseMs', o.pauseMs ?? (registry === 'embedded' ? d.pauseMs : 3000), DEMO_RANGES.pauseMs),
    restartDelayMs: checkInteger(scope, 'restartDelayMs', o.restartDelayMs ?? d.restartDelayMs, DEMO_RANGES.restartDelayMs),
    registry,
    store,
    port: checkInteger(scope, 'port', o.port ?? d.port, DEMO_RANGES.port),
    slo: checkNumber(scope, 'slo', o.slo ?? d.slo, DEMO_RANGES.slo),
    ttlMs: checkInteger(scope, 'ttlMs', o.ttlMs ?? d.ttlMs, DEMO_RANGES.ttlMs),
    detector: checkOneOf(scope, 'detector', o.detector ?? d.detector, ['ttl', 'phi'] as const),
    hosts,
    networkFaultMs: checkInteger(scope, 'networkFaultMs', o.networkFaultMs ?? d.networkFaultMs, DEMO_RANGES.networkFaultMs),
    nodeCommand,
    front: o.front,
  };
  if (o.front !== undefined && typeof o.front !== 'function') throw new InvalidOptionError(`${scope}: front must be a function (webs) => Promise<{ url, stop }>`);
  if (o.dataDir !== undefined) resolved.dataDir = checkString(scope, 'dataDir', o.dataDir);
  return resolved;
}

/** etcd://host:port[,host:port…] → the endpoints' URLs. */
export function parseEtcd(url: string): string[] {
  const rest = url.slice('etcd://'.length);
  const hosts = rest.split(',').map((h) => h.trim().replace(/\/+$/, '')).filter(Boolean);
  if (hosts.length === 0 || hosts.some((h) => !/^[^/:]+:\d+$/.test(h))) throw new InvalidOptionError(`runDemo: registry must be etcd://host:port[,host:port…], got ${JSON.stringify(url)}`);
  return hosts.map((h) => `http://${h}`);
}
