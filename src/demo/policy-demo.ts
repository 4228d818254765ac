import { nearestRank } from '../core/rank.js';
import { seededRandom } from '../core/random.js';
import { exponentialBackoff } from '../policy/backoff.js';
import { samplingBreaker } from '../policy/breakers.js';
import { circuitBreaker } from '../policy/circuit-breaker.js';
import { fallback } from '../policy/fallback.js';
import { retry } from '../policy/retry.js';
import { timeout } from '../policy/timeout.js';
import { wrap } from '../policy/wrap.js';
import { FlakyServer, type Phase } from './flaky-server.js';

/**
 * Stage one of the seed's demo: one real HTTP dependency that turns flaky, slow and
 * then dead on a fixed script, and two clients calling it at the same open-loop rate —
 * one bare, one behind steadfast's policies. What the numbers show is fault isolation:
 * the protected client answers every request quickly (fresh or from the fallback)
 * while the bare one piles up slow calls and errors.
 */
export interface PolicyDemoOptions {
  durationSec: number;
  ratePerSec: number;
  seed: number;
  /** Called about once a second with the figures so far. */
  onProgress?: (p: DemoProgress) => void;
}

export interface DemoProgress {
  elapsedSec: number;
  phase: Phase;
  bare: ClientFigures;
  protected: ClientFigures;
  breaker: string;
}

export interface ClientFigures {
  requests: number;
  /** Answered with fresh data. */
  ok: number;
  /** Answered from the fallback (degraded, but an answer). */
  fallback: number;
  /** Failed with an error, or not answered when the run ended. */
  failed: number;
  inFlight: number;
  peakInFlight: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface DemoReport {
  options: Omit<PolicyDemoOptions, 'onProgress'>;
  script: { phase: Phase; fromSec: number; toSec: number }[];
  bare: ClientFigures;
  protected: ClientFigures;
  breakerTransitions: { atSec: number; from: string; to: string }[];
  retries: number;
  timeouts: number;
}

/** The share of the run spent in each phase. */
const SCRIPT: [Phase, number][] = [
  ['healthy', 0.15],
  ['flaky', 0.2],
  ['slow', 0.15],
  ['down', 0.2],
  ['healthy', 0.3],
];

class Client {
  requests = 0;
  ok = 0;
  fallback = 0;
  failed = 0;
  inFlight = 0;
  peakInFlight = 0;
  readonly latencies: number[] = [];

  async call(fn: () => Promise<'ok' | 'fallback'>): Promise<void> {
    this.requests++;
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    const start = performance.now();
    try {
      const outcome = await fn();
      if (outcome === 'ok') this.ok++;
      else this.fallback++;
      this.latencies.push(performance.now() - start);
    } catch {
      this.failed++;
      this.latencies.push(performance.now() - start);
    } finally {
      this.inFlight--;
    }
  }

  figures(): ClientFigures {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const q = (p: number): number => nearestRank(sorted, p * 100);
    return {
      requests: this.requests,
      ok: this.ok,
      fallback: this.fallback,
      failed: this.failed + this.inFlight,
      inFlight: this.inFlight,
      peakInFlight: this.peakInFlight,
      p50Ms: q(0.5),
      p99Ms: q(0.99),
      maxMs: sorted.length ? sorted[sorted.length - 1]! : 0,
    };
  }
}

export async function runPolicyDemo(options: PolicyDemoOptions): Promise<DemoReport> {
  const { durationSec, ratePerSec, seed } = options;
  const server = new FlakyServer({ errorRate: 0.4, slowMs: 1500, random: seededRandom(seed) });
  await server.start();
  const url = server.url;

  const started = performance.now();
  const elapsedSec = (): number => (performance.now() - started) / 1000;

  const breaker = circuitBreaker({
    name: 'dependency',
    breaker: samplingBreaker({ failureRatio: 0.5, minThroughput: 10, windowMs: 2000 }),
    halfOpenAfterMs: 1000,
  });
  const transitions: DemoReport['breakerTransitions'] = [];
  breaker.on('stateChange', ({ from, to }) => transitions.push({ atSec: Number(elapsedSec().toFixed(2)), from, to }));
  const retries = retry({ maxAttempts: 3, backoff: exponentialBackoff({ initialDelayMs: 20, maxDelayMs: 200 }), random: seededRandom(seed + 1) });
  // Each attempt gets 200 ms, the whole call (retries and backoff included) 500 ms.
  const deadline = timeout(200);
  const overall = timeout(500);
  const protectedPolicy = wrap(fallback('fallback' as const), overall, retries, breaker, deadline);

  const bare = new Client();
  const guarded = new Client();
  const controllers = new Set<AbortController>();

  const bareCall = async (): Promise<'ok'> => {
    const ac = new AbortController();
    controllers.add(ac);
    try {
      const res = await fetch(url, { signal: ac.signal });
      await res.arrayBuffer();
      if (res.status >= 500) throw new Error(`HTTP ${res.status}`);
      return 'ok';
    } finally {
      controllers.delete(ac);
    }
  };
  const guardedCall = (): Promise<'ok' | 'fallback'> =>
    protectedPolicy.execute(async ({ signal }) => {
      const res = await fetch(url, { signal });
      await res.arrayBuffer();
      if (res.status >= 500) throw new Error(`HTTP ${res.status}`);
      return 'ok' as const;
    });

  const script: DemoReport['script'] = [];
  let at = 0;
  for (const [phase, share] of SCRIPT) {
    script.push({ phase, fromSec: Number(at.toFixed(2)), toSec: Number((at + share * durationSec).toFixed(2)) });
    at += share * durationSec;
  }

  const pending = new Set<Promise<void>>();
  const track = (p: Promise<void>): void => {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };

  // Open loop: requests are sent on schedule whether or not earlier ones have answered,
  // so a stalled dependency cannot hide its own slowness (no coordinated omission).
  const intervalMs = 1000 / ratePerSec;
  let sent = 0;
  let lastProgress = 0;
  await new Promise<void>((resolve) => {
    const tick = async (): Promise<void> => {
      const t = elapsedSec();
      if (t >= durationSec) return resolve();
      const phase = script.find((s) => t >= s.fromSec && t < s.toSec)?.phase ?? 'healthy';
      if (phase !== server.phase) await server.setPhase(phase);
      const due = Math.floor((t * 1000) / intervalMs) + 1;
      while (sent < due) {
        sent++;
        track(bare.call(bareCall));
        track(guarded.call(guardedCall));
      }
      if (options.onProgress && t - lastProgress >= 1) {
        lastProgress = t;
        options.onProgress({ elapsedSec: t, phase, bare: bare.figures(), protected: guarded.figures(), breaker: breaker.state });
      }
      setTimeout(() => void tick(), Math.max(1, intervalMs / 2));
    };
    void tick();
  });

  // Give answers in flight a moment, then abort what is left (it counts as failed).
  await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 2000))]);
  const report: DemoReport = {
    options: { durationSec, ratePerSec, seed },
    script,
    bare: bare.figures(),
    protected: guarded.figures(),
    breakerTransitions: transitions,
    retries: retries.stats.retries,
    timeouts: deadline.stats.timeouts + overall.stats.timeouts,
  };
  for (const ac of controllers) ac.abort();
  await server.stop();
  await Promise.allSettled(pending);
  return report;
}
