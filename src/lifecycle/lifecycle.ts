import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { systemClock, type Clock } from '../core/clock.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { InvalidOptionError } from '../core/errors.js';
import { checkClock, checkFunction, checkInteger, checkOptions, checkString } from '../core/options.js';
import type { Registry } from '../registry/registry.js';

/** A readiness check: resolves true (or nothing) when ready; false, a reason (string) or a throw when not. */
export type ReadinessCheck = () => boolean | string | void | Promise<boolean | string | void>;

export interface LifecycleOptions {
  /** Servers to drain at shutdown (their requests are tracked from the moment they are given). */
  server?: Server | Server[];
  /** Deregistered from here first at shutdown, so balancers stop sending (needs instanceId). */
  registry?: Registry;
  instanceId?: string;
  /** Readiness checks by name (a db connection, a restored checkpoint, caught-up replication). */
  checks?: Record<string, ReadinessCheck>;
  /** After leaving the registry and failing readiness, keep serving this long so balancers notice. Default 2000. */
  shutdownDelayMs?: number;
  /** Requests in flight must finish within this, counted from the shutdown's start (the delay included); past it their connections are cut and the exit code is 1. Default 20 000. */
  drainTimeoutMs?: number;
  /** Each cleanup hook (and the registry's deregistration) must finish within this; one that does not counts as failed. Default 5000. */
  hookTimeoutMs?: number;
  /** Each readiness check must answer within this. Default 1000. */
  checkTimeoutMs?: number;
  /** Signals that start a graceful shutdown (a second one forces exit); false: none. Default ['SIGTERM', 'SIGINT']. */
  signals?: NodeJS.Signals[] | false;
  /** Probe paths. Defaults /health/live, /health/ready, /health/startup. */
  paths?: { live?: string; ready?: string; startup?: string };
  /** Called with the exit code when a shutdown that a signal started ends. Default process.exit. */
  exit?: (code: number) => void;
  clock?: Clock;
}

export const LIFECYCLE_DEFAULTS = Object.freeze({ shutdownDelayMs: 2000, drainTimeoutMs: 20_000, hookTimeoutMs: 5000, checkTimeoutMs: 1000 });

export type LifecycleState = 'starting' | 'serving' | 'draining' | 'stopped';

export interface ShutdownResult {
  /** Every request in flight finished (none was cut off) and every hook succeeded within drainTimeoutMs. */
  drained: boolean;
  /** Requests still in flight when the drain timed out (their connections were cut). */
  cutOff: number;
  hooks: { name: string; ok: boolean; error?: string }[];
  /** 0 when drained, 1 otherwise. */
  exitCode: number;
  reason: string;
}

export interface LifecycleEvents {
  state: { state: LifecycleState; reason?: string };
  hook: { name: string; ok: boolean; error?: string };
}

interface Hook {
  name: string;
  fn: () => unknown;
}

/**
 * A process's lifecycle with Kubernetes semantics, for any Node HTTP server: startup, liveness
 * and readiness probes, and a graceful shutdown on SIGTERM/SIGINT or `shutdown()`:
 * not ready and out of the registry → `shutdownDelayMs` still serving (balancers notice) → stop
 * accepting → requests in flight finish (their responses say `Connection: close`; idle keep-alive
 * sockets are closed) → cleanup hooks in reverse order of registration → exit 0, or 1 if the
 * drain did not complete within `drainTimeoutMs` or a hook failed (each has `hookTimeoutMs`). A
 * second signal forces exit (code 1).
 */
export class Lifecycle {
  private st: LifecycleState = 'starting';
  private readonly o: Required<Pick<LifecycleOptions, 'shutdownDelayMs' | 'drainTimeoutMs' | 'hookTimeoutMs' | 'checkTimeoutMs'>> & { paths: { live: string; ready: string; startup: string } };
  private readonly clock: Clock;
  private readonly checks = new Map<string, ReadinessCheck>();
  private readonly hooks: Hook[] = [];
  private readonly servers: Server[] = [];
  private readonly inflight = new Set<ServerResponse>();
  private readonly events = new Emitter<LifecycleEvents>();
  private readonly registry: Registry | undefined;
  private readonly instanceId: string | undefined;
  private readonly exit: (code: number) => void;
  private readonly signalHandlers: [NodeJS.Signals, () => void][] = [];
  private shutdownPromise: Promise<ShutdownResult> | undefined;
  private drainWaiters: (() => void)[] = [];

  constructor(options: LifecycleOptions = {}) {
    const scope = 'lifecycle';
    const o = checkOptions<LifecycleOptions>(scope, options, ['server', 'registry', 'instanceId', 'checks', 'shutdownDelayMs', 'drainTimeoutMs', 'hookTimeoutMs', 'checkTimeoutMs', 'signals', 'paths', 'exit', 'clock']);
    const d = LIFECYCLE_DEFAULTS;
    const paths = checkOptions<{ live: string; ready: string; startup: string }>(`${scope}.paths`, o.paths ?? {}, ['live', 'ready', 'startup']);
    const path = (name: 'live' | 'ready' | 'startup', dflt: string): string => {
      const p = checkString(scope, `paths.${name}`, paths[name] ?? dflt);
      if (!p.startsWith('/')) throw new InvalidOptionError(`${scope}: paths.${name} must start with '/', got ${JSON.stringify(p)}`);
      return p;
    };
    this.o = {
      shutdownDelayMs: checkInteger(scope, 'shutdownDelayMs', o.shutdownDelayMs ?? d.shutdownDelayMs, { min: 0, max: 600_000 }),
      drainTimeoutMs: checkInteger(scope, 'drainTimeoutMs', o.drainTimeoutMs ?? d.drainTimeoutMs, { min: 1, max: 3_600_000 }),
      hookTimeoutMs: checkInteger(scope, 'hookTimeoutMs', o.hookTimeoutMs ?? d.hookTimeoutMs, { min: 1, max: 600_000 }),
      checkTimeoutMs: checkInteger(scope, 'checkTimeoutMs', o.checkTimeoutMs ?? d.checkTimeoutMs, { min: 1, max: 600_000 }),
      paths: { live: path('live', '/health/live'), ready: path('ready', '/health/ready'), startup: path('startup', '/health/startup') },
    };
    if (o.shutdownDelayMs !== undefined && o.drainTimeoutMs !== undefined && this.o.shutdownDelayMs >= this.o.drainTimeoutMs) {
      throw new InvalidOptionError(`${scope}: shutdownDelayMs (${this.o.shutdownDelayMs}) must be less than drainTimeoutMs (${this.o.drainTimeoutMs}), or nothing is left to drain in`);
    }
    if (o.registry !== undefined && o.instanceId === undefined) throw new InvalidOptionError(`${scope}: registry needs instanceId (the instance to deregister at shutdown)`);
    this.registry = o.registry;
    this.instanceId = o.instanceId === undefined ? undefined : checkString(scope, 'instanceId', o.instanceId);
    if (o.clock !== undefined) checkClock(scope, o.clock);
    this.clock = o.clock ?? systemClock;
    this.exit = o.exit === undefined ? (code) => process.exit(code) : checkFunction(scope, 'exit', o.exit);
    for (const [name, fn] of Object.entries(o.checks ?? {})) this.addCheck(name, fn);
    for (const s of o.server === undefined ? [] : Array.isArray(o.server) ? o.server : [o.server]) this.track(s);
    const signals = o.signals === undefined ? (['SIGTERM', 'SIGINT'] as NodeJS.Signals[]) : o.signals;
    if (signals !== false) {
      if (!Array.isArray(signals) || !signals.every((s) => typeof s === 'string' && /^SIG[A-Z0-9]+$/.test(s))) throw new InvalidOptionError(`${scope}: signals must be a list like ['SIGTERM', 'SIGINT'] or false, got ${JSON.stringify(signals)}`);
      for (const s of signals) {
        const handler = (): void => this.onSignal(s);
        process.on(s, handler);
        this.signalHandlers.push([s, handler]);
      }
    }
  }

  get state(): LifecycleState {
    return this.st;
  }

  /** Requests in flight on the tracked servers. */
  get inFlight(): number {
    return this.inflight.size;
  }

  on<K extends keyof LifecycleEvents>(name: K, listener: Listener<LifecycleEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  /** Start-up is over (the startup probe passes; readiness now follows the checks). */
  started(): this {
    if (this.st === 'starting') this.setState('serving');
    return this;
  }

  addCheck(name: string, check: ReadinessCheck): this {
    checkString('lifecycle', 'check name', name);
    this.checks.set(name, checkFunction('lifecycle', `checks.${name}`, check));
    return this;
  }

  /** A cleanup step for shutdown (a final checkpoint, closing a journal, resigning an election); run in reverse order of registration. */
  onShutdown(name: string, hook: () => unknown): this {
    checkString('lifecycle', 'hook name', name);
    this.hooks.push({ name, fn: checkFunction('lifecycle', `onShutdown(${name})`, hook) });
    return this;
  }

  /** Tracks a server's requests, for the drain. */
  track(server: Server): this {
    if (typeof (server as { on?: unknown })?.on !== 'function' || typeof server.close !== 'function') throw new InvalidOptionError('lifecycle: server must be an http.Server');
    this.servers.push(server);
    // Before the server's own handler, so a response it ends at once is still marked.
    server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
      this.inflight.add(res);
      // While draining, every response closes its connection: the client reconnects elsewhere.
      if (this.st === 'draining' && !res.headersSent) res.setHeader('connection', 'close');
      res.once('close', () => {
        this.inflight.delete(res);
        if (this.inflight.size === 0) for (const w of this.drainWaiters.splice(0)) w();
      });
    });
    return this;
  }

  /** The readiness verdict and each check's: not ready while starting, draining, or a check fails. */
  async readiness(): Promise<{ ready: boolean; state: LifecycleState; checks: Record<string, { ok: boolean; error?: string }> }> {
    const checks: Record<string, { ok: boolean; error?: string }> = {};
    await Promise.all(
      [...this.checks].map(async ([name, fn]) => {
        checks[name] = await this.runCheck(fn);
      }),
    );
    const ready = this.st === 'serving' && Object.values(checks).every((c) => c.ok);
    return { ready, state: this.st, checks };
  }

  /**
   * Answers the probe paths (GET or HEAD) and returns true; false for any other request. Call it
   * first in a request handler, or serve it on a port of its own.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '/').split('?')[0];
    if ((req.method !== 'GET' && req.method !== 'HEAD') || (path !== this.o.paths.live && path !== this.o.paths.ready && path !== this.o.paths.startup)) return false;
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    if (path === this.o.paths.live) send(this.st === 'stopped' ? 503 : 200, { status: this.st === 'stopped' ? 'stopped' : 'alive', state: this.st });
    else if (path === this.o.paths.startup) send(this.st === 'starting' ? 503 : 200, { status: this.st === 'starting' ? 'starting' : 'started', state: this.st });
    else {
      void this.readiness().then(
        (r) => send(r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', ...r }),
        (err: unknown) => send(503, { status: 'not ready', error: String(err) }),
      );
    }
    return true;
  }

  /** Starts the graceful shutdown (once; later calls return the same result). */
  shutdown(reason = 'shutdown() called'): Promise<ShutdownResult> {
    this.shutdownPromise ??= this.drain(reason);
    return this.shutdownPromise;
  }

  /** Removes the signal handlers (a lifecycle that will not be used any more, e.g. in tests). */
  dispose(): void {
    for (const [s, h] of this.signalHandlers.splice(0)) process.off(s, h);
  }

  private onSignal(signal: NodeJS.Signals): void {
    if (this.shutdownPromise !== undefined) {
      // A second signal: the operator will not wait.
      for (const s of this.servers) s.closeAllConnections();
      this.exit(1);
      return;
    }
    void this.shutdown(`${signal} received`).then((r) => this.exit(r.exitCode));
  }

  private async drain(reason: string): Promise<ShutdownResult> {
    const startedAt = this.clock.now();
    const deadline = startedAt + this.o.drainTimeoutMs;
    this.setState('draining', reason);
    for (const res of this.inflight) if (!res.headersSent) res.setHeader('connection', 'close');
    // 1. Out of the registry, so balancers and watchers stop choosing this instance.
    const hooks: ShutdownResult['hooks'] = [];
    if (this.registry && this.instanceId !== undefined) {
      const r = await this.step('registry: deregister', () => this.registry!.deregister(this.instanceId!));
      hooks.push(r);
    }
    // 2. Still serving for a while: whoever has not seen the change yet is not refused.
    await this.sleep(Math.min(this.o.shutdownDelayMs, Math.max(0, deadline - this.clock.now())));
    // 3. Stop accepting; close idle keep-alive sockets (busy ones close after their response).
    const closed = this.servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const s of this.servers) s.closeIdleConnections();
    // 4. Requests in flight finish, until the deadline.
    let cutOff = 0;
    if (this.inflight.size > 0) {
      const emptied = await this.waitEmpty(deadline);
      if (!emptied) {
        cutOff = this.inflight.size;
        for (const s of this.servers) s.closeAllConnections();
      }
    }
    await Promise.race([Promise.all(closed), this.sleep(Math.max(0, deadline - this.clock.now()))]);
    // 5. Cleanup hooks, the last registered first — run even after a drain that timed out (a final checkpoint matters most then).
    for (const h of [...this.hooks].reverse()) hooks.push(await this.step(h.name, h.fn));
    this.setState('stopped', reason);
    this.dispose();
    const drained = cutOff === 0 && hooks.every((h) => h.ok);
    return { drained, cutOff, hooks, exitCode: drained ? 0 : 1, reason };
  }

  private async step(name: string, fn: () => unknown): Promise<{ name: string; ok: boolean; error?: string }> {
    let r: { name: string; ok: boolean; error?: string };
    try {
      const timedOut = Symbol('timeout');
      const v = await Promise.race([Promise.resolve().then(fn), this.sleep(this.o.hookTimeoutMs).then(() => timedOut)]);
      r = v === timedOut ? { name, ok: false, error: `did not finish within hookTimeoutMs (${this.o.hookTimeoutMs} ms)` } : { name, ok: true };
    } catch (err) {
      r = { name, ok: false, error: (err as Error)?.message ?? String(err) };
    }
    this.events.emit('hook', r);
    return r;
  }

  private async runCheck(fn: ReadinessCheck): Promise<{ ok: boolean; error?: string }> {
    const timedOut = Symbol('timeout');
    try {
      const v = await Promise.race([Promise.resolve().then(fn), this.sleep(this.o.checkTimeoutMs).then(() => timedOut)]);
      if (v === timedOut) return { ok: false, error: `no answer within checkTimeoutMs (${this.o.checkTimeoutMs} ms)` };
      if (v === false) return { ok: false, error: 'not ready' };
      if (typeof v === 'string') return { ok: false, error: v };
      return { ok: true };
    } catch (err) {
      return { ok: false, error: (err as Error)?.message ?? String(err) };
    }
  }

  private waitEmpty(deadline: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => resolve(this.inflight.size === 0), Math.max(0, deadline - this.clock.now()));
      timer.unref?.();
      this.drainWaiters.push(() => {
        this.clock.clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = this.clock.setTimeout(r, ms);
      t.unref?.();
    });
  }

  private setState(state: LifecycleState, reason?: string): void {
    this.st = state;
    this.events.emit('state', reason === undefined ? { state } : { state, reason });
  }
}

export function lifecycle(options?: LifecycleOptions): Lifecycle {
  return new Lifecycle(options);
}
