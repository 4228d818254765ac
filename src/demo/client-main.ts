import { LoadGenerator } from '../chaos/load-generator.js';
import { systemClock } from '../core/clock.js';
import { DEMO_CLIENT_ENV, type DemoClientConfig, type FromClient, type ToClient } from './protocol.js';
import { readBack } from './read-back.js';
import { CartWorkload } from './workload.js';

/** How often the client sends the supervisor the answers it got since the last batch. */
const BATCH_MS = 50;

/**
 * `steadfast demo-client`: the demo's load, in a process of its own as a real client is. Started
 * by the supervisor with its configuration in STEADFAST_DEMO_CLIENT and an IPC channel; it
 * answers clock pings, sends the seeded cart mix at the offered rate when told to go (failing
 * over between the gateways), streams every answer's outcome back in batches, and at the end
 * reads every written cart back and checks the acknowledged writes. It exits when the
 * supervisor goes (the channel closes).
 */
export async function runDemoClientFromEnv(env = process.env): Promise<void> {
  const raw = env[DEMO_CLIENT_ENV];
  if (!raw) throw new Error(`${DEMO_CLIENT_ENV} is not set: the demo's client is started by 'steadfast demo', which passes its configuration there`);
  if (typeof process.send !== 'function') throw new Error("the demo's client needs an IPC channel to its supervisor: it is started by 'steadfast demo'");
  const cfg = JSON.parse(raw) as DemoClientConfig;
  const send = (m: FromClient): void => {
    if (process.connected) process.send!(m);
  };
  process.on('disconnect', () => process.exit(0));

  const workload = new CartWorkload({ seed: cfg.seed, carts: cfg.carts, writeShare: cfg.writeShare });
  const warm = new CartWorkload({ seed: cfg.seed + 1, carts: cfg.carts, writeShare: cfg.writeShare, cartPrefix: 'warm-' });
  const load = new LoadGenerator({
    url: cfg.urls,
    failover: { perTryTimeoutMs: cfg.perTryTimeoutMs, hedgeAfterMs: cfg.hedgeAfterMs, probe: cfg.probe },
    ratePerSec: cfg.ratePerSec,
    durationMs: cfg.durationMs,
    timeoutMs: 5000,
    next: (seq) => workload.next(seq),
    warmUp: { durationMs: cfg.warmUpMs, next: (seq) => warm.next(seq) },
  });
  let batch: number[] = [];
  const sink = { recordRequest: (ok: boolean, latencyMs: number, at: number) => void batch.push(ok ? 1 : 0, latencyMs, at) };
  const flush = (): void => {
    if (batch.length === 0) return;
    send({ type: 'results', r: batch, totals: { ...workload.totals } });
    batch = [];
  };
  load.on('result', (r) => workload.record(r, sink));
  load.on('started', ({ at }) => send({ type: 'started', at }));

  const go = async (): Promise<void> => {
    const flusher = setInterval(flush, BATCH_MS);
    try {
      const summary = await load.run();
      flush();
      send({
        type: 'loaded',
        load: {
          sent: summary.sent,
          durationMs: summary.durationMs,
          sendLagMs: summary.sendLagMs,
          ...(summary.failover ? { failover: summary.failover } : {}),
          failures: workload.failures,
          totals: { ...workload.totals },
          overload: { ...workload.overload },
          servedMs: workload.servedLatency(),
        },
      });
    } finally {
      clearInterval(flusher);
    }
  };
  const fail = (err: unknown): void => send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });

  process.on('message', (m: ToClient) => {
    switch (m.type) {
      case 'ping':
        return send({ type: 'pong', t0: m.t0, t1: systemClock.now() });
      case 'go':
        return void go().catch(fail);
      case 'readBack':
        return void readBack(m.url, workload.carts, workload.history).then((history) => send({ type: 'readBack', history }), fail);
    }
  });
  send({ type: 'hello' });
}
