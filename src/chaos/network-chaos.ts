import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { InvalidOptionError } from '../core/errors.js';
import { checkClock, checkFunction, checkInteger, checkNumber, checkOptions } from '../core/options.js';
import { seededRandom, type Random } from '../core/random.js';
import type { ClockSkew } from '../core/skewed-clock.js';
import type { NetworkHosts, PartitionSpec } from './netns.js';
import { checkSchedule, FaultTimer, type Schedule } from './schedule.js';

/**
 * partition: traffic cut (one host isolated, or a majority/minority split, or what `plan`
 * says). loss: a share of one host's packets dropped. flap: one host's link down and up, over
 * and over. skew: one host's clock offset and drifting (through `onSkew`: the hosts' processes
 * set their own clocks). Each is healed after `durationMs`.
 */
export type NetworkFault = 'partition' | 'loss' | 'flap' | 'skew';
export const NETWORK_FAULTS: readonly NetworkFault[] = ['partition', 'loss', 'flap', 'skew'];

/** One partition to make: the cut, the hosts it is about (an incident each), and a label for the report. */
export interface PartitionPlan {
  spec: PartitionSpec;
  /** The hosts cut off (the isolated host, the minority side): each is a fault's target. */
  targets: string[];
  label: string;
}

export interface NetworkChaosOptions {
  /** The hosts the network faults act on; not needed when `faults` is only ['skew'] (then give `targets`). */
  hosts?: NetworkHosts;
  /** Which faults to draw from. Default ['partition', 'loss']. */
  faults?: NetworkFault[];
  /** The hosts faults may go to. Default: every host. */
  targets?: string[];
  /** When to inject. Default { kind: 'fixed', intervalMs: 5000 }. */
  schedule?: Schedule;
  /** How long each fault lasts before it is healed. Default 3000. */
  durationMs?: number;
  /** loss: the share of packets dropped, in (0, 1]. Default 0.3. */
  lossRatio?: number;
  /** flap: how long the link is down, then up, each time. Default 300 and 700. */
  flapDownMs?: number;
  flapUpMs?: number;
  /** skew: the clock is set this far off (± at random), and drifting ± skewDriftPerSec ms a second. Default 5000 and 200. */
  skewMs?: number;
  skewDriftPerSec?: number;
  /** Sets host `target`'s clock (skew; then `{ offsetMs: 0, driftPerSec: 0 }` to heal it). Required with 'skew'. */
  onSkew?: (target: string, skew: Required<ClockSkew>) => void;
  /**
   * Chooses a partition (default: one of `targets` isolated, or a random minority of them split
   * off, half the time each). Given the seeded random.
   */
  plan?: (random: Random) => PartitionPlan | undefined;
  /** Chooses the target of a loss, flap or skew fault (default: one of `targets` at random). */
  pick?: (kind: Exclude<NetworkFault, 'partition'>, random: Random) => string | undefined;
  /** When a fault is due, wait (every pollMs, at most maxWaitMs) until ready() — one fault at a time. */
  gate?: { ready: () => boolean; maxWaitMs?: number; pollMs?: number };
  seed?: number;
  random?: Random;
  clock?: Clock;
}

export const NETWORK_CHAOS_DEFAULTS = Object.freeze({ durationMs: 3000, lossRatio: 0.3, flapDownMs: 300, flapUpMs: 700, skewMs: 5000, skewDriftPerSec: 200, seed: 1, gateMaxWaitMs: 20_000, gatePollMs: 50 });

export interface NetworkFaultRecord {
  id: number;
  at: number;
  kind: NetworkFault;
  /** The hosts the fault is about: the isolated host or minority side, the lossy, flapping or skewed host. */
  targets: string[];
  /** What was done: "isolate db-1", "split db-1,web-1 | …", "loss 30 % at web-2", "skew +5000 ms, -200 ms/s on web-1". */
  label: string;
  /** When it was healed (undefined while it is on). */
  healedAt?: number;
  /** Why making or healing it failed, if it did. */
  error?: string;
}

export interface NetworkChaosEvents {
  fault: NetworkFaultRecord;
  healed: NetworkFaultRecord;
  error: { record: NetworkFaultRecord; error: Error };
}

/**
 * Network nemeses on a seeded schedule, over hosts made by NetworkHosts: partitions, packet loss,
 * flapping links and clock skew, one at a time, each healed after `durationMs`. Every fault is
 * recorded (time, kind, hosts, what was done, when healed) for the report; `stop()` heals what is
 * on.
 */
export class NetworkChaos {
  readonly records: NetworkFaultRecord[] = [];
  private readonly net: NetworkHosts | undefined;
  private readonly faults: NetworkFault[];
  private readonly targets: string[];
  private readonly schedule: Schedule;
  private readonly durationMs: number;
  private readonly lossRatio: number;
  private readonly flapDownMs: number;
  private readonly flapUpMs: number;
  private readonly skewMs: number;
  private readonly skewDriftPerSec: number;
  private readonly onSkew: NetworkChaosOptions['onSkew'];
  private readonly plan: (random: Random) => PartitionPlan | undefined;
  private readonly pick: (kind: Exclude<NetworkFault, 'partition'>, random: Random) => string | undefined;
  private readonly gate: { ready: () => boolean; maxWaitMs: number; pollMs: number } | undefined;
  private readonly random: Random;
  private readonly clock: Clock;
  private readonly events = new Emitter<NetworkChaosEvents>();
  private readonly faultTimer: FaultTimer;
  /** The fault that is on, and how it is healed. */
  private current: { record: NetworkFaultRecord; timer: TimerHandle; heal: () => Promise<void> } | undefined;
  private work: Promise<void> = Promise.resolve();

  constructor(options: NetworkChaosOptions) {
    const scope = 'NetworkChaos';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { hosts } are required`);
    const o = checkOptions<NetworkChaosOptions>(scope, options, ['hosts', 'faults', 'targets', 'schedule', 'durationMs', 'lossRatio', 'flapDownMs', 'flapUpMs', 'skewMs', 'skewDriftPerSec', 'onSkew', 'plan', 'pick', 'gate', 'seed', 'random', 'clock']);
    this.faults = o.faults ?? ['partition', 'loss'];
    if (!Array.isArray(this.faults) || this.faults.length === 0 || this.faults.some((f) => !NETWORK_FAULTS.includes(f))) throw new InvalidOptionError(`${scope}: faults must be a non-empty list of ${NETWORK_FAULTS.join(', ')}, got ${JSON.stringify(o.faults)}`);
    if (o.hosts !== undefined && (o.hosts === null || typeof (o.hosts as NetworkHosts).partition !== 'function')) throw new InvalidOptionError(`${scope}: hosts must be a NetworkHosts (NetworkHosts.create)`);
    if (o.hosts === undefined && this.faults.some((f) => f !== 'skew')) throw new InvalidOptionError(`${scope}: faults ${this.faults.filter((f) => f !== 'skew').join(', ')} act on links between hosts: give hosts (NetworkHosts.create)`);
    this.net = o.hosts;
    this.targets = o.targets ?? this.net?.hosts.map((h) => h.name) ?? [];
    if (!Array.isArray(this.targets) || this.targets.length === 0 || this.targets.some((t) => typeof t !== 'string')) throw new InvalidOptionError(`${scope}: targets must be a non-empty list of host names${this.net ? '' : ' (required without hosts)'}`);
    if (this.net) for (const t of this.targets) this.net.host(t);
    const d = NETWORK_CHAOS_DEFAULTS;
    this.schedule = checkSchedule(scope, o.schedule ?? { kind: 'fixed', intervalMs: 5000 });
    this.durationMs = checkInteger(scope, 'durationMs', o.durationMs ?? d.durationMs, { min: 1, max: 3_600_000 });
    this.lossRatio = checkNumber(scope, 'lossRatio', o.lossRatio ?? d.lossRatio, { min: 0.001, max: 1 });
    this.flapDownMs = checkInteger(scope, 'flapDownMs', o.flapDownMs ?? d.flapDownMs, { min: 1, max: 3_600_000 });
    this.flapUpMs = checkInteger(scope, 'flapUpMs', o.flapUpMs ?? d.flapUpMs, { min: 1, max: 3_600_000 });
    this.skewMs = checkInteger(scope, 'skewMs', o.skewMs ?? d.skewMs, { min: 0, max: 86_400_000 });
    this.skewDriftPerSec = checkNumber(scope, 'skewDriftPerSec', o.skewDriftPerSec ?? d.skewDriftPerSec, { min: 0, max: 500 });
    if (o.onSkew !== undefined) this.onSkew = checkFunction(scope, 'onSkew', o.onSkew);
    if (this.faults.includes('skew') && !this.onSkew) throw new InvalidOptionError(`${scope}: the skew fault needs onSkew(target, { offsetMs, driftPerSec }), which sets that host's clock`);
    this.plan = o.plan === undefined ? (r) => this.defaultPlan(r) : checkFunction(scope, 'plan', o.plan);
    this.pick = o.pick === undefined ? (_k, r) => this.targets[Math.floor(r() * this.targets.length)] : checkFunction(scope, 'pick', o.pick);
    if (o.gate !== undefined) {
      const g = checkOptions<NonNullable<NetworkChaosOptions['gate']>>(`${scope}.gate`, o.gate, ['ready', 'maxWaitMs', 'pollMs']);
      this.gate = {
        ready: checkFunction(`${scope}.gate`, 'ready', g.ready),
        maxWaitMs: checkInteger(`${scope}.gate`, 'maxWaitMs', g.maxWaitMs ?? d.gateMaxWaitMs, { min: 0, max: 86_400_000 }),
        pollMs: checkInteger(`${scope}.gate`, 'pollMs', g.pollMs ?? d.gatePollMs, { min: 1, max: 60_000 }),
      };
    }
    this.random = o.random ?? seededRandom(checkInteger(scope, 'seed', o.seed ?? d.seed, { min: 0, max: 2 ** 32 - 1 }));
    if (o.clock !== undefined) checkClock(scope, o.clock);
    this.clock = o.clock ?? systemClock;
    // One fault at a time: a due fault waits while one is on, or the gate says not yet.
    this.faultTimer = new FaultTimer({
      schedule: this.schedule,
      random: this.random,
      clock: this.clock,
      maxWaitMs: this.gate?.maxWaitMs ?? 0,
      pollMs: this.gate?.pollMs ?? d.gatePollMs,
      blocked: () => this.current !== undefined || (this.gate !== undefined && !this.gate.ready()),
      fire: () => {
        if (!this.current) void this.inject();
      },
    });
  }

  on<K extends keyof NetworkChaosEvents>(name: K, listener: Listener<NetworkChaosEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  /** Whether a fault is on now. */
  get active(): NetworkFaultRecord | undefined {
    return this.current?.record;
  }

  /** Starts the schedule, injecting nothing after clock time `until`. */
  start({ until = Infinity }: { until?: number } = {}): this {
    this.faultTimer.start(until);
    return this;
  }

  /** Stops the schedule; a fault that is on stays on until it is healed (or stop()). */
  stopInjecting(): void {
    this.faultTimer.stop();
  }

  /** Stops the schedule and heals what is on. */
  async stop(): Promise<void> {
    this.stopInjecting();
    await this.healNow();
    await this.work;
  }

  /**
   * Injects one fault now (of `kind`, or one drawn from `faults`), healed after durationMs;
   * resolves with its record once it is in place (undefined when nothing could be chosen or a
   * fault is already on).
   */
  inject(kind?: NetworkFault): Promise<NetworkFaultRecord | undefined> {
    const run = this.work.then(() => this.injectNow(kind ?? this.faults[Math.floor(this.random() * this.faults.length)]!));
    this.work = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Heals the fault that is on now (before its time). */
  healNow(): Promise<void> {
    const c = this.current;
    if (!c) return this.work;
    this.clock.clearTimeout(c.timer);
    return this.healCurrent();
  }

  private async injectNow(kind: NetworkFault): Promise<NetworkFaultRecord | undefined> {
    if (this.current) return undefined;
    const r = this.random;
    let targets: string[];
    let label: string;
    let make: () => Promise<void>;
    let heal: () => Promise<void> = () => this.net!.heal();
    if (kind === 'partition') {
      const p = this.plan(r);
      if (!p) return undefined;
      ({ targets, label } = p);
      make = () => this.net!.partition(p.spec);
    } else {
      const t = this.pick(kind, r);
      if (t === undefined) return undefined;
      targets = [t];
      if (kind === 'loss') {
        label = `loss ${Math.round(this.lossRatio * 100)} % at ${t}`;
        make = () => this.net!.loss(t, this.lossRatio);
      } else if (kind === 'flap') {
        label = `flap ${t} (down ${this.flapDownMs} ms, up ${this.flapUpMs} ms)`;
        make = async () => {
          const f = this.net!.flap(t, { downMs: this.flapDownMs, upMs: this.flapUpMs, clock: this.clock });
          heal = () => f.stop();
          await f.settled();
        };
      } else {
        const offsetMs = (r() < 0.5 ? -1 : 1) * this.skewMs;
        const driftPerSec = (r() < 0.5 ? -1 : 1) * this.skewDriftPerSec;
        label = `skew ${offsetMs >= 0 ? '+' : ''}${offsetMs} ms, ${driftPerSec >= 0 ? '+' : ''}${driftPerSec} ms/s on ${t}`;
        make = async () => this.onSkew!(t, { offsetMs, driftPerSec });
        heal = async () => this.onSkew!(t, { offsetMs: 0, driftPerSec: 0 });
      }
    }
    const record: NetworkFaultRecord = { id: this.records.length + 1, at: this.clock.now(), kind, targets, label };
    this.records.push(record);
    this.events.emit('fault', record);
    try {
      await make();
    } catch (err) {
      record.error = (err as Error).message;
      this.events.emit('error', { record, error: err as Error });
    }
    const timer = this.clock.setTimeout(() => void this.healCurrent(), this.durationMs);
    this.current = { record, timer, heal };
    return record;
  }

  private healCurrent(): Promise<void> {
    const run = this.work.then(async () => {
      const c = this.current;
      if (!c) return;
      this.current = undefined;
      try {
        await c.heal();
      } catch (err) {
        c.record.error = (err as Error).message;
        this.events.emit('error', { record: c.record, error: err as Error });
      }
      c.record.healedAt = this.clock.now();
      this.events.emit('healed', c.record);
    });
    this.work = run.catch(() => undefined);
    return run;
  }

  private defaultPlan(r: Random): PartitionPlan | undefined {
    const pool = this.targets;
    if (this.net!.hosts.length < 2) return undefined;
    if (r() < 0.5 || pool.length < 3) {
      const t = pool[Math.floor(r() * pool.length)]!;
      return { spec: { isolate: t }, targets: [t], label: `isolate ${t}` };
    }
    // A minority of the targets (at least one, fewer than half of every host) against the rest.
    const all = this.net!.hosts.map((h) => h.name);
    const size = 1 + Math.floor(r() * Math.max(1, Math.floor((all.length - 1) / 2)));
    const order = [...pool];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const shuffled = order.slice(0, size);
    const rest = all.filter((h) => !shuffled.includes(h));
    return { spec: { groups: [shuffled, rest] }, targets: shuffled, label: `split ${shuffled.join(',')} | ${rest.join(',')}` };
  }
}
