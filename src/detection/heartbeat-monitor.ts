import { type Clock, type TimerHandle } from '../core/clock.js';
import { Emitter, type Disposable, type Listener } from '../core/events.js';
import { checkString } from '../core/options.js';
import { checkPhiOptions, PhiAccrualDetector, type PhiAccrualOptions } from './phi-accrual.js';

export type NodeHealth = 'alive' | 'suspect';

export interface HeartbeatMonitorEvents {
  /** φ of `node` reached the threshold. */
  suspect: { node: string; phi: number; silentMs: number };
  /** A suspected node sent a heartbeat again. */
  alive: { node: string };
}

export interface MonitoredNode {
  node: string;
  status: NodeHealth;
  phi: number;
  lastHeartbeatAt: number;
}

/**
 * Watches many nodes with one timer. Each node has its own φ detector; the monitor computes
 * when each would cross the threshold if silent and arms a single timer for the earliest, so
 * a suspicion is raised exactly when φ crosses (no polling delay) and a thousand nodes cost
 * one timer, not a thousand. Heartbeats only push crossings later, so they never re-arm it.
 */
export class HeartbeatMonitor {
  private readonly detectorOptions: PhiAccrualOptions;
  private readonly clock: Clock;
  private readonly detectors = new Map<string, PhiAccrualDetector>();
  private readonly suspected = new Set<string>();
  private readonly events = new Emitter<HeartbeatMonitorEvents>();
  private timer: TimerHandle | undefined;
  private armedAt = Infinity;

  constructor(options?: PhiAccrualOptions) {
    const o = checkPhiOptions('HeartbeatMonitor', options);
    this.clock = o.clock;
    this.detectorOptions = { ...o };
  }

  on<K extends keyof HeartbeatMonitorEvents>(name: K, listener: Listener<HeartbeatMonitorEvents[K]>): Disposable {
    return this.events.on(name, listener);
  }

  heartbeat(node: string): void {
    checkString('HeartbeatMonitor.heartbeat', 'node', node);
    let d = this.detectors.get(node);
    if (d === undefined) {
      d = new PhiAccrualDetector(this.detectorOptions);
      this.detectors.set(node, d);
    }
    d.heartbeat();
    if (this.suspected.delete(node)) this.events.emit('alive', { node });
    const at = d.suspectAt()!;
    if (at < this.armedAt) this.arm(at);
  }

  /** Stops watching a node (it left on purpose). */
  remove(node: string): void {
    this.detectors.delete(node);
    this.suspected.delete(node);
    if (this.detectors.size === 0) this.disarm();
  }

  status(node: string): NodeHealth | undefined {
    if (!this.detectors.has(node)) return undefined;
    return this.suspected.has(node) ? 'suspect' : 'alive';
  }

  get nodes(): MonitoredNode[] {
    const now = this.clock.now();
    return [...this.detectors].map(([node, d]) => ({ node, status: this.suspected.has(node) ? 'suspect' : 'alive', phi: d.phi(now), lastHeartbeatAt: d.lastHeartbeatAt! }));
  }

  /** Clears the timer (the monitor can be used again after the next heartbeat). */
  stop(): void {
    this.disarm();
  }

  private arm(at: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.armedAt = at;
    const t = this.clock.setTimeout(this.check, Math.max(0, at - this.clock.now()));
    t.unref?.();
    this.timer = t;
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Infinity;
  }

  private readonly check = (): void => {
    this.timer = undefined;
    this.armedAt = Infinity;
    const now = this.clock.now();
    let next = Infinity;
    for (const [node, d] of this.detectors) {
      if (this.suspected.has(node)) continue;
      const at = d.suspectAt()!;
      if (at <= now) {
        this.suspected.add(node);
        this.events.emit('suspect', { node, phi: d.phi(now), silentMs: now - d.lastHeartbeatAt! });
      } else if (at < next) next = at;
    }
    if (next < Infinity) this.arm(next);
  };
}
