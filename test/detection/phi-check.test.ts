import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { seededRandom } from '../../src/core/random.js';
import { HealthCheck } from '../../src/detection/health-check.js';
import { EmbeddedRegistry, HttpRegistry, RegistryServer } from '../../src/registry/index.js';
import { InvalidOptionError } from '../../src/core/errors.js';

/** Sends heartbeats every `intervalMs` (± jitter) on `clock`, dropping each with probability `loss`; counts the check's status changes. */
function drive(check: HealthCheck, clock: ManualClock, o: { beats: number; intervalMs: number; jitterMs: number; loss: number; seed: number }): { criticals: number; lastBeatAt: number } {
  const random = seededRandom(o.seed);
  let criticals = 0;
  check.on('change', (e) => void (e.to === 'critical' && criticals++));
  check.pass('first');
  let last = clock.now();
  for (let i = 0; i < o.beats; i++) {
    clock.advance(o.intervalMs + (random() * 2 - 1) * o.jitterMs);
    if (random() >= o.loss) {
      check.pass('beat');
      last = clock.now();
    }
  }
  return { criticals, lastBeatAt: last };
}

describe('a TTL check judged by φ accrual (HealthCheckOptions.phi)', () => {
  it('rides out lost heartbeats that flap a fixed TTL, and still turns critical when they stop', () => {
    const run = { beats: 300, intervalMs: 1000, jitterMs: 100, loss: 0.2, seed: 4 };
    const ttlClock = new ManualClock();
    const ttl = new HealthCheck({ ttlMs: 1500, clock: ttlClock }).start();
    const fixed = drive(ttl, ttlClock, run);
    const phiClock = new ManualClock();
    const phi = new HealthCheck({ ttlMs: 1000, phi: { threshold: 8 }, clock: phiClock }).start();
    const judged = drive(phi, phiClock, run);
    // One lost heartbeat in five: the fixed 1.5 s TTL turns critical at many of the gaps…
    expect(fixed.criticals).toBeGreaterThan(20);
    // …while φ, having seen such gaps, does not suspect a node that is still beating.
    expect(judged.criticals).toBe(0);
    expect(phi.status).toBe('passing');
    // A real crash: no heartbeat any more. φ turns critical — later than the TTL, not never.
    let at: number | undefined;
    phi.on('change', (e) => void (e.to === 'critical' && (at = phiClock.now())));
    for (let t = 0; t < 60_000 && at === undefined; t += 100) phiClock.advance(100);
    expect(at).toBeDefined();
    expect(at! - judged.lastBeatAt).toBeGreaterThan(2000);
    expect(at! - judged.lastBeatAt).toBeLessThan(15_000);
    expect(phi.output).toMatch(/φ reached 8/);
    phi.stop();
    ttl.stop();
  });

  it('on a calm, regular sender, suspects a silence soon after its pause allowance', () => {
    const clock = new ManualClock();
    const check = new HealthCheck({ ttlMs: 1000, phi: { acceptableHeartbeatPauseMs: 500 }, clock }).start();
    const { lastBeatAt } = drive(check, clock, { beats: 100, intervalMs: 1000, jitterMs: 0, loss: 0, seed: 1 });
    let at: number | undefined;
    check.on('change', (e) => void (e.to === 'critical' && (at = clock.now())));
    for (let t = 0; t < 10_000 && at === undefined; t += 10) clock.advance(10);
    // mean 1000 + pause 500, σ floored at 250: φ = 8 a little over a second past due.
    expect(at! - lastBeatAt).toBeGreaterThan(1500);
    expect(at! - lastBeatAt).toBeLessThan(4000);
    check.stop();
  });

  it('needs ttlMs, and names unknown φ options', () => {
    expect(() => new HealthCheck({ http: 'http://127.0.0.1:1/', phi: {} })).toThrow(/give ttlMs too/);
    expect(() => new HealthCheck({ ttlMs: 1000, phi: { treshold: 8 } as never })).toThrow(InvalidOptionError);
  });
});

describe('a φ check through the registry and its Consul-compatible API', () => {
  it('registers one over HTTP (PhiThreshold, PhiAcceptablePause), judges it by φ, and refuses one without a TTL', async () => {
    const clock = new ManualClock();
    const registry = new EmbeddedRegistry({ clock });
    const server = await new RegistryServer({ registry, port: 0 }).listen();
    const client = new HttpRegistry({ url: server.url });
    try {
      await client.register({ id: 'db-1', service: 'db', address: '127.0.0.1', port: 1, checks: [{ id: 'db-1-ttl', ttlMs: 1000, phi: { threshold: 6, acceptableHeartbeatPauseMs: 2000 } }] });
      for (let i = 0; i < 20; i++) {
        await client.pass('db-1-ttl');
        clock.advance(1000);
      }
      // 2.5 s of silence: a 1 s TTL would be long expired; φ with a 2 s pause allowance is not.
      clock.advance(1500);
      expect((await registry.instances('db'))[0]!.status).toBe('passing');
      clock.advance(20_000);
      const [db] = await registry.instances('db');
      expect(db!.status).toBe('critical');
      expect(db!.checks[0]!.output).toMatch(/φ reached 6/);
      const res = await fetch(`${server.url}/v1/agent/service/register`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ID: 'x', Name: 'x', Check: { HTTP: 'http://127.0.0.1:1/', Interval: '10s', PhiThreshold: 8 } }) });
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(/PhiThreshold.*give TTL too/);
      const bad = await fetch(`${server.url}/v1/agent/service/register`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ID: 'y', Name: 'y', Check: { TTL: '1s', PhiThreshold: 500 } }) });
      expect(bad.status).toBe(400);
      expect(await bad.text()).toMatch(/PhiThreshold must be a number from 0.5 to 50/);
    } finally {
      await client.close?.();
      await server.close();
      await registry.close();
    }
  });
});
