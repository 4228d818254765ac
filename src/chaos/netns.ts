import { execFile, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { ErrorCode, InvalidOptionError, OptionRangeError, SteadfastError } from '../core/errors.js';
import { checkInteger, checkOptions } from '../core/options.js';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';

/** A namespace, link or firewall rule could not be made or removed. */
export class NetworkHostsError extends SteadfastError {
  constructor(message: string) {
    super(ErrorCode.NETWORK_HOSTS, message);
  }
}

export interface NetworkHostsOptions {
  /** The hosts' names: letters, digits and '-', 1–20 characters; at most 200 hosts. */
  hosts: string[];
  /** The hosts' /24, as its first three octets (default: one derived from the owner's pid, 10.100–199.x). */
  subnet?: string;
  /** The process whose run this is (default this one): the start-up sweep removes what a dead owner left. */
  owner?: number;
}

/** One host: its network namespace and its address on the run's bridge. */
export interface NetworkHost {
  name: string;
  namespace: string;
  address: string;
}

/**
 * How traffic is cut. `isolate`: one host from every other host. `groups`: hosts in different
 * groups cannot reach each other (a majority/minority split; a host in two groups is a bridge
 * that sees both). `from`/`to` (one way): packets from the `from` hosts are dropped at the `to`
 * hosts, while the `to` hosts' packets still reach the `from` hosts.
 */
export type PartitionSpec = { isolate: string } | { groups: string[][] } | { from: string[]; to: string[] };

/** What this machine lacks for NetworkHosts, or undefined when it has everything. */
export function networkHostsMissing(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'network namespaces need root (run as root, or use FaultProxy links instead)';
  for (const [cmd, pkg] of [
    ['ip', 'iproute2'],
    ['iptables', 'iptables'],
    ['iptables-restore', 'iptables'],
  ] as const) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0) return `${cmd} is not installed (Debian package ${pkg})`;
  }
  return undefined;
}

const PREFIX = 'steadfast-';
const NAME_RE = /^[A-Za-z0-9-]{1,20}$/;

function run(argv: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0]!, argv.slice(1), { timeout: 10_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new NetworkHostsError(`${argv.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Hosts on one machine: each a Linux network namespace with its own address on a bridge of the
 * run's own, so that traffic between two of them can be cut, or thinned, with iptables in their
 * namespaces while every other link keeps working — the faults (partitions, packet loss) that
 * process faults and one proxied connection cannot make. The root namespace keeps an address on
 * the bridge (`.254`, `gateway`) that no cut and no loss applies to: a supervisor there reaches
 * every host whatever the nemesis.
 *
 * Needs root, `ip` and iptables (`networkHostsMissing()` says what is missing). `destroy()`
 * removes every namespace, link and rule made; `NetworkHosts.sweep()` removes what a run whose
 * process is gone left behind (a supervisor killed with SIGKILL), and `create` runs it first.
 */
export class NetworkHosts {
  private readonly byName = new Map<string, NetworkHost>();
  private destroyed = false;
  private readonly flaps = new Set<Flap>();
  private readonly delayed = new Set<string>();

  private constructor(
    readonly owner: number,
    readonly bridge: string,
    readonly subnet: string,
    hosts: NetworkHost[],
  ) {
    for (const h of hosts) this.byName.set(h.name, h);
  }

  /** The root namespace's address on the bridge. */
  get gateway(): string {
    return `${this.subnet}.254`;
  }

  get hosts(): NetworkHost[] {
    return [...this.byName.values()];
  }

  host(name: string): NetworkHost {
    const h = this.byName.get(name);
    if (!h) throw new OptionRangeError(`NetworkHosts: no host ${JSON.stringify(name)} (hosts: ${[...this.byName.keys()].join(', ')})`);
    return h;
  }

  static async create(options: NetworkHostsOptions): Promise<NetworkHosts> {
    const scope = 'NetworkHosts.create';
    const o = checkOptions<NetworkHostsOptions>(scope, options, ['hosts', 'subnet', 'owner']);
    if (!Array.isArray(o.hosts) || o.hosts.length === 0) throw new InvalidOptionError(`${scope}: hosts must be a non-empty array of names`);
    if (o.hosts.length > 200) throw new OptionRangeError(`${scope}: hosts must be at most 200 names, got ${o.hosts.length}`);
    for (const h of o.hosts) if (typeof h !== 'string' || !NAME_RE.test(h)) throw new InvalidOptionError(`${scope}: host names must be 1–20 letters, digits or '-', got ${JSON.stringify(h)}`);
    if (new Set(o.hosts).size !== o.hosts.length) throw new InvalidOptionError(`${scope}: host names must be unique`);
    const owner = checkInteger(scope, 'owner', o.owner ?? process.pid, { min: 1, max: 4_194_304 });
    const subnet = o.subnet ?? `10.${100 + ((owner >> 8) % 100)}.${owner % 256}`;
    if (typeof subnet !== 'string' || !/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(subnet) || subnet.split('.').some((x) => Number(x) > 255)) throw new InvalidOptionError(`${scope}: subnet must be the first three octets of a /24, like "10.213.7", got ${JSON.stringify(subnet)}`);
    const missing = networkHostsMissing();
    if (missing) throw new NetworkHostsError(`${scope}: ${missing}`);
    await NetworkHosts.sweep();
    const bridge = `sf${owner}br`;
    const hosts = o.hosts.map((name, i) => ({ name, namespace: `${PREFIX}${owner}-${name}`, address: `${subnet}.${i + 1}` }));
    const net = new NetworkHosts(owner, bridge, subnet, hosts);
    try {
      await run(['ip', 'link', 'add', bridge, 'type', 'bridge']);
      await run(['ip', 'addr', 'add', `${net.gateway}/24`, 'dev', bridge]);
      await run(['ip', 'link', 'set', bridge, 'up']);
      await Promise.all(hosts.map((h, i) => net.makeHost(h, `sf${owner}h${i}`, `sf${owner}p${i}`)));
    } catch (err) {
      await net.destroy().catch(() => {});
      throw err;
    }
    return net;
  }

  private async makeHost(h: NetworkHost, veth: string, peer: string): Promise<void> {
    await run(['ip', 'netns', 'add', h.namespace]);
    // The peer gets a name of this run's (hosts are made side by side), then eth0 inside.
    await run(['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', peer]);
    await run(['ip', 'link', 'set', peer, 'netns', h.namespace]);
    await run(['ip', 'link', 'set', veth, 'master', this.bridge, 'up']);
    const inside = (...argv: string[]): Promise<string> => run(['ip', 'netns', 'exec', h.namespace, ...argv]);
    await inside('ip', 'link', 'set', peer, 'name', 'eth0');
    await inside('ip', 'link', 'set', 'lo', 'up');
    await inside('ip', 'addr', 'add', `${h.address}/24`, 'dev', 'eth0');
    await inside('ip', 'link', 'set', 'eth0', 'up');
    // The nemeses' rules live in a chain of their own, after loopback and the root namespace's
    // address (the supervisor's view is never cut): healing flushes only that chain.
    const gw = this.gateway;
    await run(['ip', 'netns', 'exec', h.namespace, 'iptables-restore'], `*filter\n:STEADFAST - [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -s ${gw} -j ACCEPT\n-A INPUT -j STEADFAST\n-A OUTPUT -o lo -j ACCEPT\n-A OUTPUT -d ${gw} -j ACCEPT\n-A OUTPUT -j STEADFAST\nCOMMIT\n`);
  }

  /** The argv that runs `argv` inside host `name`'s namespace. */
  command(name: string, argv: string[]): string[] {
    return ['ip', 'netns', 'exec', this.host(name).namespace, ...argv];
  }

  /** Starts `command args` inside host `name` (as child_process.spawn). */
  spawn(name: string, command: string, args: string[] = [], options: SpawnOptions = {}): ChildProcess {
    const [cmd, ...rest] = this.command(name, [command, ...args]);
    return spawn(cmd!, rest, options);
  }

  /** Cuts traffic as `spec` says, on top of whatever is already cut; `heal()` undoes it all. */
  async partition(spec: PartitionSpec): Promise<void> {
    const rules = new Map<string, string[]>();
    const add = (host: string, rule: string): void => {
      this.host(host);
      let list = rules.get(host);
      if (!list) rules.set(host, (list = []));
      list.push(rule);
    };
    const names = [...this.byName.keys()];
    if ('isolate' in spec) {
      this.host(spec.isolate);
      for (const other of names) if (other !== spec.isolate) this.cutBoth(add, spec.isolate, other);
    } else if ('groups' in spec) {
      if (!Array.isArray(spec.groups) || spec.groups.length < 2) throw new InvalidOptionError('NetworkHosts.partition: groups must be two or more lists of hosts');
      const together = (a: string, b: string): boolean => spec.groups.some((g) => g.includes(a) && g.includes(b));
      for (const g of spec.groups) for (const h of g) this.host(h);
      for (const [i, a] of names.entries()) for (const b of names.slice(i + 1)) if (!together(a, b)) this.cutBoth(add, a, b);
    } else if ('from' in spec && 'to' in spec) {
      for (const t of spec.to) for (const f of spec.from) if (f !== t) add(t, `-A STEADFAST -s ${this.host(f).address} -j DROP`);
    } else throw new InvalidOptionError('NetworkHosts.partition: give { isolate }, { groups } or { from, to }');
    await this.apply(rules);
  }

  /** Drops `ratio` of the packets host `name` sends to and receives from other hosts (iptables' statistic match), until heal(). */
  async loss(name: string, ratio: number): Promise<void> {
    if (typeof ratio !== 'number' || !(ratio > 0 && ratio <= 1)) throw new OptionRangeError(`NetworkHosts.loss: ratio must be in (0, 1], got ${String(ratio)}`);
    this.host(name);
    await this.apply(new Map([[name, [`-A STEADFAST -m statistic --mode random --probability ${ratio} -j DROP`]]]));
  }

  /**
   * Adds `delayMs` (± `jitterMs`) to every packet host `name` sends, with the kernel's netem
   * qdisc, until heal(). Kernels built without netem (sch_netem) refuse: the error says so —
   * use a FaultProxy latency toxic there.
   */
  async delay(name: string, delayMs: number, jitterMs = 0): Promise<void> {
    const scope = 'NetworkHosts.delay';
    checkInteger(scope, 'delayMs', delayMs, { min: 1, max: 60_000 });
    checkInteger(scope, 'jitterMs', jitterMs, { min: 0, max: 60_000 });
    const h = this.host(name);
    if (this.destroyed) throw new NetworkHostsError('NetworkHosts: destroyed; create new hosts');
    try {
      await run(['ip', 'netns', 'exec', h.namespace, 'tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'netem', 'delay', `${delayMs}ms`, ...(jitterMs > 0 ? [`${jitterMs}ms`] : [])]);
    } catch (err) {
      if (/unknown|No such file/i.test((err as Error).message)) throw new NetworkHostsError(`${scope}: this kernel has no netem qdisc (module sch_netem), so packets cannot be delayed here; use a FaultProxy latency toxic on the link instead (${(err as Error).message})`);
      throw err;
    }
    this.delayed.add(name);
  }

  /**
   * Takes host `name`'s link down for `downMs`, up for `upMs`, over and over — a flapping
   * cable: while it is down nothing reaches the host, the root namespace included — until the
   * returned `stop()` or heal(), which leave the link up. Timers run on `clock`.
   */
  flap(name: string, o: { upMs: number; downMs: number; clock?: Clock }): { stop(): Promise<void>; settled(): Promise<void> } {
    const scope = 'NetworkHosts.flap';
    const opts = checkOptions<{ upMs: number; downMs: number; clock?: Clock }>(scope, o, ['upMs', 'downMs', 'clock']);
    const upMs = checkInteger(scope, 'upMs', opts.upMs, { min: 1, max: 3_600_000 });
    const downMs = checkInteger(scope, 'downMs', opts.downMs, { min: 1, max: 3_600_000 });
    const h = this.host(name);
    if (this.destroyed) throw new NetworkHostsError('NetworkHosts: destroyed; create new hosts');
    const flap = new Flap(h.namespace, upMs, downMs, opts.clock ?? systemClock, () => this.flaps.delete(flap));
    this.flaps.add(flap);
    flap.begin();
    // settled(): resolves once the link changes due so far have been made.
    return { stop: () => flap.stop(), settled: () => flap.settled() };
  }

  /** Removes every cut, loss and delay, and stops every flap (its link left up). */
  async heal(): Promise<void> {
    await Promise.all([...this.flaps].map((f) => f.stop()));
    await Promise.all(this.hosts.map((h) => run(['ip', 'netns', 'exec', h.namespace, 'iptables', '-w', '-F', 'STEADFAST'])));
    await Promise.all([...this.delayed].map((n) => run(['ip', 'netns', 'exec', this.host(n).namespace, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']).catch(() => {})));
    this.delayed.clear();
  }

  /** Removes every namespace and link of this run. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.flaps].map((f) => f.stop().catch(() => {})));
    const errors: string[] = [];
    const gone = (e: Error): boolean => /Cannot find device|No such file|does not exist/.test(e.message);
    // The links first (deleting one end of a veth deletes both): a deleted namespace frees its
    // end only once the kernel gets to it, which may be after this resolves.
    await Promise.all(this.hosts.map((_h, i) => run(['ip', 'link', 'del', `sf${this.owner}h${i}`]).catch((e: Error) => void (gone(e) || errors.push(e.message)))));
    await Promise.all(this.hosts.map((h) => run(['ip', 'netns', 'del', h.namespace]).catch((e: Error) => void (gone(e) || errors.push(e.message)))));
    await run(['ip', 'link', 'del', this.bridge]).catch((e: Error) => void (gone(e) || errors.push(e.message)));
    if (errors.length) throw new NetworkHostsError(`NetworkHosts.destroy: ${errors.join('; ')}`);
  }

  /**
   * Removes the namespaces and links of runs whose owner process is gone; returns their names.
   * Called by create(); call it at start-up of anything that makes hosts.
   */
  static async sweep(): Promise<string[]> {
    const removed: string[] = [];
    const list = await run(['ip', 'netns', 'list']).catch(() => '');
    for (const line of list.split('\n')) {
      const ns = line.split(' ')[0]!;
      const m = /^steadfast-(\d+)-/.exec(ns);
      if (m && !alive(Number(m[1]))) {
        await run(['ip', 'netns', 'del', ns]).catch(() => {});
        removed.push(ns);
      }
    }
    const links = await run(['ip', '-o', 'link', 'show']).catch(() => '');
    for (const m of links.matchAll(/^\d+: (sf(\d+)(?:br|h\d+|p\d+))[@:]/gm)) {
      if (!alive(Number(m[2]))) {
        await run(['ip', 'link', 'del', m[1]!]).catch(() => {});
        removed.push(m[1]!);
      }
    }
    return removed;
  }

  private cutBoth(add: (host: string, rule: string) => void, a: string, b: string): void {
    const [ha, hb] = [this.host(a), this.host(b)];
    add(a, `-A STEADFAST -s ${hb.address} -j DROP`);
    add(a, `-A STEADFAST -d ${hb.address} -j DROP`);
    add(b, `-A STEADFAST -s ${ha.address} -j DROP`);
    add(b, `-A STEADFAST -d ${ha.address} -j DROP`);
  }

  /** One iptables-restore per host, adding to its STEADFAST chain. */
  private async apply(rules: Map<string, string[]>): Promise<void> {
    if (this.destroyed) throw new NetworkHostsError('NetworkHosts: destroyed; create new hosts');
    await Promise.all([...rules].map(([host, list]) => run(['ip', 'netns', 'exec', this.host(host).namespace, 'iptables-restore', '--noflush', '-w'], `*filter\n${list.join('\n')}\nCOMMIT\n`)));
  }
}

/** One flapping link: down, up, down, … on its clock; each change waits for the one before. */
class Flap {
  private timer: TimerHandle | undefined;
  private stopped = false;
  private pending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly namespace: string,
    private readonly upMs: number,
    private readonly downMs: number,
    private readonly clock: Clock,
    private readonly done: () => void,
  ) {}

  begin(): void {
    this.set('down', this.downMs);
  }

  private set(state: 'up' | 'down', holdMs: number): void {
    if (this.stopped) return;
    this.pending = this.pending.then(() => run(['ip', 'netns', 'exec', this.namespace, 'ip', 'link', 'set', 'eth0', state])).catch(() => {});
    this.timer = this.clock.setTimeout(() => this.set(state === 'down' ? 'up' : 'down', state === 'down' ? this.upMs : this.downMs), holdMs);
  }

  settled(): Promise<void> {
    return this.pending.then(() => undefined);
  }

  async stop(): Promise<void> {
    if (this.stopped) return this.pending.then(() => undefined);
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.done();
    this.pending = this.pending.then(() => run(['ip', 'netns', 'exec', this.namespace, 'ip', 'link', 'set', 'eth0', 'up'])).catch(() => {});
    await this.pending;
  }
}
