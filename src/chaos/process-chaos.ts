import type { ChildProcess } from 'node:child_process';
import { nodeChildProcess } from '../core/builtins.js';
import { Reaper } from './reaper.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { checkBoolean, checkClock, checkFunction, checkInteger, checkOptions } from '../core/options.js';
import { seededRandom, type Random } from '../core/random.js';
import { checkSchedule, FaultTimer, type Schedule } from './schedule.js';
import { InvalidOptionError } from '../core/errors.js';
import { RestartPolicy, type RestartPolicyOptions } from '../lifecycle/restart-policy.js';

export interface SupervisedProcess {
  name: string;
  /** argv: the executable and its arguments. */
  command: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Open Node's IPC channel to the process (JSON messages; `process.send` there), reported as `message` events. */
  ipc?: boolean;
}

/**
 * kill: SIGKILL. pause: SIGSTOP, then SIGCONT after pauseMs. restart: a graceful restart, as a
 * deploy does — SIGTERM, SIGKILL if it has not exited after graceMs, started again; restarts walk
 * the processes in order (with a gate, each waits until the previous is healthy again: a rolling
 * restart).
 */
export type ProcessFault = 'kill' | 'pause' | 'restart';

export interface ProcessChaosOptions {
  processes: SupervisedProcess[];
  /** When to inject faults. Default { kind: 'fixed', intervalMs: 5000 }. */
  schedule?: Schedule;
  /** Which faults to draw from. Default ['kill']. */
  faults?: ProcessFault[];
  /** A paused process gets SIGCONT after this long. Default 2000. */
  pauseMs?: number;
  /** A process restarted gracefully (SIGTERM) that has not exited after this long gets SIGKILL. Default 15 000. */
  graceMs?: number;
  /** A process this supervisor killed (a fault) is started again after this long. Default 500. */
  restartDelayMs?: number;
  /**
   * A process that exits by itself (a crash) is restarted with backoff, and left down after a
   * crash loop (the `gaveUp` event says why). Default: restartPolicy's defaults, the first wait
   * restartDelayMs.
   */
  restart?: RestartPolicyOptions;
  /** Seed of the schedule and the choice of target and fault. Default 1. */
  seed?: number;
  random?: Random;
  /**
   * Start a reaper process that SIGKILLs the children (paused ones too) and removes the folders
   * given to removeOnCrash() if this supervisor dies without stop() — even by SIGKILL. Default true.
   */
  reaper?: boolean;
  /**
   * One fault at a time: when a fault is due, wait (checking every `pollMs`) until `ready()`
   * says the system is whole again — every process healthy, no incident open — but at most
   * `maxWaitMs`, then inject. The fault model of a replicated system (R = 2 survives one fault)
   * is tested this way; without a gate faults come on the schedule regardless.
   *
   * `eligible(name)` instead (or as well) lets more than one fault be open at a time: a fault
   * goes only to a process for which it answers true — for example, one whose replica group is
   * whole again while fewer than N faults are open — and waits like `ready` when none is.
   */
  gate?: { ready?: () => boolean; eligible?: (name: string) => boolean; maxWaitMs?: number; pollMs?: number };
  /** Timers and fault times (tests pass a ManualClock). */
  clock?: Clock;
}

export const PROCESS_CHAOS_DEFAULTS = Object.freeze({ pauseMs: 2000, graceMs: 15_000, restartDelayMs: 500, seed: 1, gateMaxWaitMs: 20_000, gatePollMs: 50 });

export interface FaultRecord {
  id: number;
  at: number;
  target: string;
  kind: ProcessFault;
  pid: number;
}

export interface ProcessChaosEvents {
  fault: FaultRecord;
  /** A process was started (first time or after a fault); `restarts` counts the latter. */
  start: { name: string; pid: number; restarts: number };
  resumed: { name: string; pid: number; faultId: number };
  exit: { name: string; pid: number; code: number | null; signal: NodeJS.Signals | null };
  /** A line the process printed, on stdout or stderr. */
  output: { name: string; line: string; stream: 'stdout' | 'stderr' };
  /** A message the process sent over its IPC channel (with `ipc: true`). */
  message: { name: string; message: unknown };
  /** A crash-looping process is left down. */
  gaveUp: { name: string; restarts: number; reason: string };
}

interface Running {
  spec: SupervisedProcess;
  child: ChildProcess | undefined;
  restarts: number;
  paused: boolean;
  /** This supervisor SIGKILLed it (a fault): its exit is not a crash. */
  killed: boolean;
  startedAt: number;
  policy: RestartPolicy;
  /** Why it was left down after a crash loop. */
  gaveUp?: string;
}

/**
 * Supervises child processes and injects faults into them on a seeded schedule: SIGKILL (the
 * supervisor restarts the process after `restartDelayMs`) or SIGSTOP (SIGCONT after `pauseMs`).
 * Every fault is recorded with its time, target and pid, for the availability report.
 */
export class ProcessChaos {
  readonly records: FaultRecord[] = [];
  private readonly procs: Running[];
  private readonly schedule: Schedule;
  private readonly faults: ProcessFault[];
  private readonly pauseMs: number;
  private readonly restartDelayMs: number;
  private readonly graceMs: number;
  /** The next process a restart fault goes to (restarts walk the list, as a deploy does). */
  private rollIndex = 0;
  private readonly random: Random;
  private readonly events = new Emitter<ProcessChaosEvents>();
  private running = false;
  private readonly faultTimer: FaultTimer;
  private readonly gate: { ready: (() => boolean) | undefined; eligible: ((name: string) => boolean) | undefined; maxWaitMs: number; pollMs: number } | undefined;
  private readonly clock: Clock;
  private readonly timers = new Set<TimerHandle>();
  private readonly useReaper: boolean;
  private reaper: Reaper | undefined;
  private readonly reapDirs: string[] = [];

  constructor(options: ProcessChaosOptions) {
    const scope = 'ProcessChaos';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { processes } are required`);
    const o = checkOptions<ProcessChaosOptions>(scope, options, ['processes', 'schedule', 'faults', 'pauseMs', 'graceMs', 'restartDelayMs', 'restart', 'seed', 'random', 'reaper', 'gate', 'clock']);
    if (!Array.isArray(o.processes) || o.processes.length === 0) throw new InvalidOptionError(`${scope}: processes must be a non-empty array of { name, command: [...] }`);
    for (const [i, p] of o.processes.entries()) {
      if (!p || typeof p.name !== 'string' || !Array.isArray(p.command) || p.command.length === 0 || p.command.some((c) => typeof c !== 'string')) {
        throw new InvalidOptionError(`${scope}: processes[${i}] must be { name: string, command: [executable, ...args] }`);
      }
      if (p.ipc !== undefined && typeof p.ipc !== 'boolean') throw new InvalidOptionError(`${scope}: processes[${i}].ipc must be true or false`);
    }
    const restart = { initialDelayMs: o.restartDelayMs ?? PROCESS_CHAOS_DEFAULTS.restartDelayMs, ...checkOptions<RestartPolicyOptions>(`${scope}.restart`, o.restart ?? {}, ['initialDelayMs', 'multiplier', 'maxDelayMs', 'resetAfterMs', 'maxRestarts', 'windowMs']) };
    this.procs = o.processes.map((spec) => ({ spec, child: undefined, restarts: 0, paused: false, killed: false, startedAt: 0, policy: new RestartPolicy(restart) }));
    this.schedule = checkSchedule(scope, o.schedule ?? { kind: 'fixed', intervalMs: 5000 });
    this.faults = o.faults ?? ['kill'];
    if (!Array.isArray(this.faults) || this.faults.length === 0 || this.faults.some((f) => f !== 'kill' && f !== 'pause' && f !== 'restart')) throw new InvalidOptionError(`${scope}: faults must be a non-empty array of 'kill', 'pause' and 'restart'`);
    const d = PROCESS_CHAOS_DEFAULTS;
    this.pauseMs = checkInteger(scope, 'pauseMs', o.pauseMs ?? d.pauseMs, { min: 1 });
    this.graceMs = checkInteger(scope, 'graceMs', o.graceMs ?? d.graceMs, { min: 1 });
    this.restartDelayMs = checkInteger(scope, 'restartDelayMs', o.restartDelayMs ?? d.restartDelayMs, { min: 0 });
    this.random = o.random ?? seededRandom(checkInteger(scope, 'seed', o.seed ?? d.seed, { min: 0, max: 2 ** 32 - 1 }));
    this.useReaper = checkBoolean(scope, 'reaper', o.reaper ?? true);
    if (o.clock !== undefined) checkClock(scope, o.clock);
    this.clock = o.clock ?? systemClock;
    if (o.gate !== undefined) {
      const g = checkOptions<NonNullable<ProcessChaosOptions['gate']>>(`${scope}.gate`, o.gate, ['ready', 'eligible', 'maxWaitMs', 'pollMs']);
      if (g.ready === undefined && g.eligible === undefined) throw new InvalidOptionError(`${scope}.gate: give ready(), eligible(name) or both`);
      this.gate = {
        ready: g.ready === undefined ? undefined : checkFunction<() => boolean>(`${scope}.gate`, 'ready', g.ready),
        eligible: g.eligible === undefined ? undefined : checkFunction<(name: string) => boolean>(`${scope}.gate`, 'eligible', g.eligible),
        maxWaitMs: checkInteger(`${scope}.gate`, 'maxWaitMs', g.maxWaitMs ?? d.gateMaxWaitMs, { min: 0, max: 86_400_000 }),
        pollMs: checkInteger(`${scope}.gate`, 'pollMs', g.pollMs ?? d.gatePollMs, { min: 1, max: 60_000 }),
      };
    }
    // A due fault waits at the gate; past it (or its wait), it goes to an eligible process, or any live one.
    const gate = this.gate;
    this.faultTimer = new FaultTimer({
      schedule: this.schedule,
      random: this.random,
      clock: this.clock,
      maxWaitMs: gate?.maxWaitMs ?? 0,
      pollMs: gate?.pollMs ?? d.gatePollMs,
      active: () => this.running,
      blocked: () => gate !== undefined && ((gate.ready !== undefined && !gate.ready()) || (gate.eligible !== undefined && this.eligibleProcs().length === 0)),
      fire: () => {
        const eligible = this.eligibleProcs();
        this.injectInto(eligible.length > 0 ? eligible : this.liveProcs());
      },
    });
  }

  /** Remove this folder too if the supervisor dies before stop() (with the reaper on). */
  removeOnCrash(dir: string): void {
    this.reapDirs.push(dir);
    this.reaper?.removeOnCrash(dir);
  }

  on<K extends keyof ProcessChaosEvents>(name: K, listener: Listener<ProcessChaosEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  /** Starts every process; with `inject`, also the fault schedule. */
  start({ inject = true } = {}): this {
    this.running = true;
    if (this.useReaper && !this.reaper) {
      this.reaper = Reaper.start();
      for (const d of this.reapDirs) this.reaper.removeOnCrash(d);
    }
    for (const p of this.procs) this.spawn(p);
    if (inject) this.injectFaults();
    return this;
  }

  /** Starts the fault schedule (if start() was told not to), injecting nothing after clock time `until`. */
  injectFaults({ until = Infinity }: { until?: number } = {}): this {
    this.faultTimer.start(until);
    return this;
  }

  /** Stops the fault schedule; the processes keep running (and restarting). */
  stopInjecting(): void {
    this.faultTimer.stop();
  }

  /** Injects one fault now (into a seeded-random process, or `target`). */
  inject(kind?: ProcessFault, target?: string): FaultRecord | undefined {
    return this.injectInto(this.liveProcs(target), kind, target);
  }

  private liveProcs(target?: string): Running[] {
    return this.procs.filter((p) => p.child && p.child.exitCode === null && p.child.signalCode === null && !p.paused && (target === undefined || p.spec.name === target));
  }

  private injectInto(candidates: Running[], kind?: ProcessFault, target?: string): FaultRecord | undefined {
    if (candidates.length === 0) return undefined;
    let p = candidates[Math.floor(this.random() * candidates.length)]!;
    const fault = kind ?? this.faults[Math.floor(this.random() * this.faults.length)]!;
    if (fault === 'restart' && target === undefined) {
      // The next one in the list that can be restarted now.
      for (let k = 0; k < this.procs.length; k++) {
        const q = this.procs[(this.rollIndex + k) % this.procs.length]!;
        if (candidates.includes(q)) {
          p = q;
          this.rollIndex = (this.rollIndex + k + 1) % this.procs.length;
          break;
        }
      }
    }
    const child = p.child!;
    const record: FaultRecord = { id: this.records.length + 1, at: this.clock.now(), target: p.spec.name, kind: fault, pid: child.pid ?? -1 };
    this.records.push(record);
    this.events.emit('fault', record);
    if (fault === 'kill') {
      p.killed = true;
      child.kill('SIGKILL');
    } else if (fault === 'restart') {
      p.killed = true; // on purpose: restarted after restartDelayMs, not counted as a crash
      child.kill('SIGTERM');
      this.later(this.graceMs, () => {
        if (p.child === child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
    } else {
      p.paused = true;
      child.kill('SIGSTOP');
      this.later(this.pauseMs, () => {
        p.paused = false;
        if (p.child === child && child.exitCode === null) {
          child.kill('SIGCONT');
          this.events.emit('resumed', { name: p.spec.name, pid: child.pid ?? -1, faultId: record.id });
        }
      });
    }
    return record;
  }

  /** Stops the schedule and the processes (SIGCONT, then SIGKILL). */
  async stop(): Promise<void> {
    this.running = false;
    this.stopInjecting();
    for (const t of this.timers) this.clock.clearTimeout(t);
    this.timers.clear();
    await Promise.all(
      this.procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            const c = p.child;
            if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGCONT');
            c.kill('SIGKILL');
          }),
      ),
    );
    this.reaper?.close();
    this.reaper = undefined;
  }

  /**
   * Sends `message` over the IPC channel of process `name` (started with `ipc: true`); false
   * when it is not running, has no channel, or is paused (a stopped process cannot read it).
   */
  send(name: string, message: unknown): boolean {
    const p = this.procs.find((q) => q.spec.name === name);
    const c = p?.child;
    if (!p || !c || !p.spec.ipc || p.paused || c.exitCode !== null || c.signalCode !== null || !c.connected) return false;
    try {
      return c.send(message as object);
    } catch {
      return false;
    }
  }

  pidOf(name: string): number | undefined {
    return this.procs.find((p) => p.spec.name === name)?.child?.pid;
  }

  /** The live processes the gate lets a fault go to (all of them without `eligible`). */
  private eligibleProcs(): Running[] {
    const live = this.liveProcs();
    return this.gate?.eligible ? live.filter((p) => this.gate!.eligible!(p.spec.name)) : live;
  }

  private later(ms: number, fn: () => void): void {
    const t = this.clock.setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private spawn(p: Running): void {
    const child = nodeChildProcess().spawn(p.spec.command[0]!, p.spec.command.slice(1), { cwd: p.spec.cwd, env: { ...process.env, ...p.spec.env }, stdio: p.spec.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'], ...(p.spec.ipc ? { serialization: 'json' as const } : {}) });
    if (p.spec.ipc) child.on('message', (message: unknown) => this.events.emit('message', { name: p.spec.name, message }));
    p.child = child;
    p.paused = false;
    p.killed = false;
    p.startedAt = this.clock.now();
    this.reaper?.track(child.pid);
    const lineReader = (stream: 'stdout' | 'stderr'): ((c: Buffer) => void) => {
      let buf = '';
      return (c) => {
        buf += c.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!.slice(-64 * 1024); // a line without an end is kept to 64 KiB
        for (const line of lines) this.events.emit('output', { name: p.spec.name, line, stream });
      };
    };
    child.stdout!.on('data', lineReader('stdout'));
    child.stderr!.on('data', lineReader('stderr')); // a crash's stack: what says why it exited
    child.on('error', () => {});
    this.events.emit('start', { name: p.spec.name, pid: child.pid ?? -1, restarts: p.restarts });
    child.once('exit', (code, signal) => {
      this.reaper?.untrack(child.pid);
      this.events.emit('exit', { name: p.spec.name, pid: child.pid ?? -1, code, signal });
      if (!this.running || p.child !== child) return;
      let delayMs = this.restartDelayMs;
      if (!p.killed) {
        // It exited by itself: a crash, restarted with backoff — or left down after a crash loop.
        const decision = p.policy.onExit(p.startedAt, this.clock.now());
        if (decision.action === 'give-up') {
          p.gaveUp = decision.reason;
          this.events.emit('gaveUp', { name: p.spec.name, restarts: p.restarts, reason: decision.reason });
          return;
        }
        delayMs = decision.delayMs;
      }
      this.later(delayMs, () => {
        if (!this.running) return;
        p.restarts++;
        this.spawn(p);
      });
    });
  }
}
