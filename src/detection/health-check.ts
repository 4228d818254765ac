import { nodeNet } from '../core/builtins.js';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkClock, checkFunction, checkInteger, checkOneOf, checkOptions, checkString } from '../core/options.js';
import { InvalidOptionError } from '../core/errors.js';
import { PHI_ACCRUAL_DEFAULTS, PhiAccrualDetector } from './phi-accrual.js';

export type HealthStatus = 'passing' | 'warning' | 'critical';

export interface HealthCheckOptions {
  /** GET this URL: 2xx passing, 429 warning, anything else (or no answer) critical — Consul's rule. */
  http?: string;
  /** Connect to `host:port`: connected is passing, refused or timed out is critical. */
  tcp?: string;
  /** A TTL check: the service must call pass()/warn()/fail() at least this often, or it turns critical. */
  ttlMs?: number;
  /**
   * With ttlMs: judge the updates by φ accrual instead of a fixed TTL — the check turns critical
   * when φ (how overdue the next update is, against the intervals seen so far) reaches
   * `threshold` (default 8). ttlMs is the interval assumed before any was measured;
   * `acceptableHeartbeatPauseMs` (default: ttlMs) is added to the mean interval, and
   * `minStdDeviationMs` (default: ttlMs / 4) floors σ. On a lossy network the intervals spread
   * and the detector waits longer; on a calm one it suspects sooner.
   */
  phi?: { threshold?: number; acceptableHeartbeatPauseMs?: number; minStdDeviationMs?: number };
  /** Your own check: return true/'passing', 'warning', false/'critical', or throw (critical). */
  fn?: (signal: AbortSignal) => boolean | HealthStatus | void | Promise<boolean | HealthStatus | void>;
  /** Time between runs (http, tcp, fn). Default 10 000. */
  intervalMs?: number;
  /** A run that takes longer is critical. Default 5000. */
  timeoutMs?: number;
  /** Consecutive good results needed to turn passing. Default 0 (the first). */
  successBeforePassing?: number;
  /** Consecutive failures needed to turn warning. Default: failuresBeforeCritical. */
  failuresBeforeWarning?: number;
  /** Consecutive failures needed to turn critical. Default 0 (the first). */
  failuresBeforeCritical?: number;
  /** Status before the first result. Default 'critical' (Consul's). */
  initialStatus?: HealthStatus;
  name?: string;
  clock?: Clock;
}

export const HEALTH_CHECK_DEFAULTS = Object.freeze({
  intervalMs: 10_000,
  timeoutMs: 5000,
  successBeforePassing: 0,
  failuresBeforeCritical: 0,
  initialStatus: 'critical' as HealthStatus,
});

export interface HealthCheckEvents {
  change: { from: HealthStatus; to: HealthStatus; output: string };
  result: { status: HealthStatus; output: string; durationMs: number };
}

const KNOWN = ['http', 'tcp', 'ttlMs', 'phi', 'fn', 'intervalMs', 'timeoutMs', 'successBeforePassing', 'failuresBeforeWarning', 'failuresBeforeCritical', 'initialStatus', 'name', 'clock'];

/**
 * A health check with Consul's semantics. One slow answer need not flap a node:
 * `failuresBeforeCritical: 3` turns critical only on the third failure in a row, and
 * `successBeforePassing: 2` comes back only after two good answers in a row.
 */
export class HealthCheck {
  readonly name: string;
  readonly kind: 'http' | 'tcp' | 'ttl' | 'fn';
  readonly intervalMs: number;
  readonly timeoutMs: number;
  private readonly opts: HealthCheckOptions;
  private readonly successBeforePassing: number;
  private readonly failuresBeforeWarning: number;
  private readonly failuresBeforeCritical: number;
  private readonly clock: Clock;
  private readonly events = new Emitter<HealthCheckEvents>();
  private current: HealthStatus;
  private lastOutput = '';
  private successes = 0;
  private failures = 0;
  private timer: TimerHandle | undefined;
  private running = false;
  private inFlight: Promise<HealthStatus> | undefined;
  /** A φ-judged TTL check's detector (HealthCheckOptions.phi). */
  private readonly detector: PhiAccrualDetector | undefined;

  constructor(options: HealthCheckOptions) {
    const scope = 'healthCheck';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options are required (one of http, tcp, ttlMs, fn)`);
    const o = checkOptions<HealthCheckOptions>(scope, options, KNOWN);
    const kinds = (['http', 'tcp', 'ttlMs', 'fn'] as const).filter((k) => o[k] !== undefined);
    if (kinds.length !== 1) throw new InvalidOptionError(`${scope}: give exactly one of http, tcp, ttlMs or fn, got ${kinds.length ? kinds.join(' and ') : 'none'}`);
    this.kind = kinds[0] === 'ttlMs' ? 'ttl' : kinds[0]!;
    if (o.http !== undefined) {
      let u: URL | undefined;
      try {
        u = new URL(checkString(scope, 'http', o.http));
      } catch {
        u = undefined;
      }
      if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) throw new InvalidOptionError(`${scope}: http must be an http:// or https:// URL, got ${JSON.stringify(o.http)}`);
    }
    if (o.tcp !== undefined && !/^[^:\s]+:\d{1,5}$/.test(checkString(scope, 'tcp', o.tcp))) throw new InvalidOptionError(`${scope}: tcp must be host:port, got ${JSON.stringify(o.tcp)}`);
    if (o.ttlMs !== undefined) checkInteger(scope, 'ttlMs', o.ttlMs, { min: 1 });
    if (o.phi !== undefined && o.ttlMs === undefined) throw new InvalidOptionError(`${scope}: phi judges a TTL check's updates; give ttlMs too (the interval expected before any is measured)`);
    if (o.fn !== undefined) checkFunction(scope, 'fn', o.fn);
    const d = HEALTH_CHECK_DEFAULTS;
    this.intervalMs = checkInteger(scope, 'intervalMs', o.intervalMs ?? d.intervalMs, { min: 1, max: 2 ** 31 - 1 });
    this.timeoutMs = checkInteger(scope, 'timeoutMs', o.timeoutMs ?? d.timeoutMs, { min: 1, max: 2 ** 31 - 1 });
    this.successBeforePassing = checkInteger(scope, 'successBeforePassing', o.successBeforePassing ?? d.successBeforePassing, { min: 0, max: 1000 });
    this.failuresBeforeCritical = checkInteger(scope, 'failuresBeforeCritical', o.failuresBeforeCritical ?? d.failuresBeforeCritical, { min: 0, max: 1000 });
    this.failuresBeforeWarning = checkInteger(scope, 'failuresBeforeWarning', o.failuresBeforeWarning ?? this.failuresBeforeCritical, { min: 0, max: this.failuresBeforeCritical });
    this.current = checkOneOf(scope, 'initialStatus', o.initialStatus ?? d.initialStatus, ['passing', 'warning', 'critical']);
    this.name = checkString(scope, 'name', o.name ?? this.kind);
    if (o.clock !== undefined) checkClock(scope, o.clock);
    this.clock = o.clock ?? systemClock;
    this.opts = o;
    if (o.phi !== undefined) {
      const p = checkOptions<NonNullable<HealthCheckOptions['phi']>>(`${scope}.phi`, o.phi, ['threshold', 'acceptableHeartbeatPauseMs', 'minStdDeviationMs']);
      this.detector = new PhiAccrualDetector({
        threshold: p.threshold ?? PHI_ACCRUAL_DEFAULTS.threshold,
        acceptableHeartbeatPauseMs: p.acceptableHeartbeatPauseMs ?? o.ttlMs!,
        minStdDeviationMs: p.minStdDeviationMs ?? Math.max(1, Math.round(o.ttlMs! / 4)),
        firstHeartbeatEstimateMs: o.ttlMs!,
        clock: this.clock,
      });
    }
  }

  on<K extends keyof HealthCheckEvents>(name: K, listener: Listener<HealthCheckEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  get status(): HealthStatus {
    return this.current;
  }

  /** The last result's description (HTTP status and body start, TCP result, TTL note). */
  get output(): string {
    return this.lastOutput;
  }

  /** Runs now and every intervalMs (a TTL check starts its countdown). */
  start(): this {
    if (this.running) return this;
    this.running = true;
    if (this.kind === 'ttl') this.armTtl();
    else void this.tick();
    return this;
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** TTL: the service is fine. */
  pass(note = ''): void {
    this.ttlUpdate('passing', note);
  }
  /** TTL: the service is degraded. */
  warn(note = ''): void {
    this.ttlUpdate('warning', note);
  }
  /** TTL: the service is failing. */
  fail(note = ''): void {
    this.ttlUpdate('critical', note);
  }

  /** Runs the check once (http, tcp, fn) and applies the result; concurrent calls share one run. */
  runOnce(): Promise<HealthStatus> {
    if (this.kind === 'ttl') return Promise.resolve(this.current);
    this.inFlight ??= this.probe().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async tick(): Promise<void> {
    await this.runOnce();
    if (!this.running) return;
    const t = this.clock.setTimeout(() => void this.tick(), this.intervalMs);
    t.unref?.();
    this.timer = t;
  }

  private async probe(): Promise<HealthStatus> {
    const started = this.clock.now();
    const ac = new AbortController();
    const timer = this.clock.setTimeout(() => ac.abort(new Error(`timed out after ${this.timeoutMs} ms (timeoutMs)`)), this.timeoutMs);
    let status: HealthStatus;
    let output: string;
    try {
      [status, output] = await Promise.race([
        this.kind === 'http' ? this.httpProbe(ac.signal) : this.kind === 'tcp' ? this.tcpProbe(ac.signal) : this.fnProbe(ac.signal),
        new Promise<never>((_, reject) => ac.signal.addEventListener('abort', () => reject(ac.signal.reason), { once: true })),
      ]);
    } catch (err) {
      status = 'critical';
      output = `${this.describeTarget()}: ${(err as Error)?.message ?? String(err)}`;
    } finally {
      this.clock.clearTimeout(timer);
    }
    this.events.emit('result', { status, output, durationMs: this.clock.now() - started });
    this.apply(status, output);
    return this.current;
  }

  private describeTarget(): string {
    return this.kind === 'http' ? `HTTP GET ${this.opts.http}` : this.kind === 'tcp' ? `TCP connect ${this.opts.tcp}` : `check '${this.name}'`;
  }

  private async httpProbe(signal: AbortSignal): Promise<[HealthStatus, string]> {
    const res = await fetch(this.opts.http!, { signal, redirect: 'manual', headers: { 'user-agent': 'steadfast-health-check' } });
    const body = (await res.text()).slice(0, 4096);
    const status: HealthStatus = res.status >= 200 && res.status < 300 ? 'passing' : res.status === 429 ? 'warning' : 'critical';
    return [status, `HTTP GET ${this.opts.http}: ${res.status} ${res.statusText} Output: ${body}`];
  }

  private tcpProbe(signal: AbortSignal): Promise<[HealthStatus, string]> {
    const [host, port] = this.opts.tcp!.split(':') as [string, string];
    return new Promise((resolve, reject) => {
      const sock = nodeNet().connect({ host, port: Number(port) });
      const done = (err?: Error): void => {
        sock.destroy();
        if (err) reject(err);
        else resolve(['passing', `TCP connect ${this.opts.tcp}: Success`]);
      };
      sock.once('connect', () => done());
      sock.once('error', done);
      signal.addEventListener('abort', () => done(signal.reason as Error), { once: true });
    });
  }

  private async fnProbe(signal: AbortSignal): Promise<[HealthStatus, string]> {
    const r = await this.opts.fn!(signal);
    const status: HealthStatus = r === undefined || r === true ? 'passing' : r === false ? 'critical' : r;
    if (status !== 'passing' && status !== 'warning' && status !== 'critical') throw new InvalidOptionError(`returned ${JSON.stringify(r)}; return a boolean or 'passing' | 'warning' | 'critical'`);
    return [status, `check '${this.name}': ${status}`];
  }

  private ttlUpdate(status: HealthStatus, note: string): void {
    if (this.kind !== 'ttl') throw new InvalidOptionError(`healthCheck: pass()/warn()/fail() are for TTL checks; this is a ${this.kind} check`);
    this.detector?.heartbeat();
    this.apply(status, note);
    if (this.running) this.armTtl();
  }

  /** How long an update may be awaited: the TTL, or until φ reaches its threshold. */
  private expiryMs(): number {
    const at = this.detector?.suspectAt();
    return at === undefined ? this.opts.ttlMs! : Math.max(1, Math.ceil(at - this.clock.now()));
  }

  /** What an expiry says: the TTL, or the φ it reached. */
  private expiredText(ttl: number): string {
    return this.detector ? `φ reached ${this.detector.threshold} (no update for ${ttl} ms, judged against the intervals seen so far)` : `TTL expired (no update within ${ttl} ms)`;
  }

  private armTtl(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    const ttl = this.expiryMs();
    const due = this.clock.now() + ttl;
    const t = this.clock.setTimeout(() => {
      this.timer = undefined;
      // Fired more than half a TTL late: this process was stopped or its event loop blocked, and
      // updates sent meanwhile may be waiting unread in its sockets (they are read after the
      // timers). One more TTL before judging — otherwise a registry resumed after a pause marks
      // every instance critical at once.
      const late = this.clock.now() - due;
      if (late > ttl / 2) {
        this.lastOutput = `TTL expiry deferred: this check's timer fired ${Math.round(late)} ms late (the process was stalled); one more ${ttl} ms for an update`;
        return this.armTtlFromNow();
      }
      this.apply('critical', this.expiredText(ttl));
    }, ttl);
    t.unref?.();
    this.timer = t;
  }

  /** Re-arms after a stall; a second late expiry in a row is judged (the process kept stalling). */
  private armTtlFromNow(): void {
    const ttl = this.opts.ttlMs!;
    const t = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.apply('critical', `${this.expiredText(ttl)}, after a stall of this process`);
    }, ttl);
    t.unref?.();
    this.timer = t;
  }

  /** Consul's status handler: counters decide when a result changes the status. */
  private apply(status: HealthStatus, output: string): void {
    this.lastOutput = output;
    if (status === 'passing' || status === 'warning') {
      this.successes++;
      this.failures = 0;
      if (this.successes >= this.successBeforePassing) this.setStatus(status, output);
      return;
    }
    this.failures++;
    this.successes = 0;
    if (this.failures >= this.failuresBeforeCritical) this.setStatus('critical', output);
    else if (this.failures >= this.failuresBeforeWarning) this.setStatus('warning', output);
  }

  private setStatus(next: HealthStatus, output: string): void {
    const from = this.current;
    if (from === next) return;
    this.current = next;
    this.events.emit('change', { from, to: next, output });
  }
}

/** A health check with Consul's semantics; see HealthCheckOptions. Call start(). */
export function healthCheck(options: HealthCheckOptions): HealthCheck {
  return new HealthCheck(options);
}
