import { describe, expect, it } from 'vitest';
import { runPolicyDemo } from '../../src/demo/policy-demo.js';
import { FlakyServer } from '../../src/demo/flaky-server.js';
import { seededRandom } from '../../src/core/index.js';

describe('FlakyServer (the demo dependency)', () => {
  it('answers, fails, refuses connections and comes back on the same port', async () => {
    const server = new FlakyServer({ errorRate: 1, slowMs: 50, random: seededRandom(1) });
    await server.start();
    try {
      expect((await fetch(server.url)).status).toBe(200);
      await server.setPhase('flaky');
      expect((await fetch(server.url)).status).toBe(503);
      await server.setPhase('down');
      await expect(fetch(server.url)).rejects.toThrow();
      await server.setPhase('healthy');
      expect((await fetch(server.url)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});

describe('policy demo (real HTTP server, real faults)', () => {
  it('answers every request behind steadfast while the bare client fails through the outage', async () => {
    const report = await runPolicyDemo({ durationSec: 6, ratePerSec: 25, seed: 3 });
    expect(report.protected.requests).toBe(report.bare.requests);
    expect(report.protected.requests).toBeGreaterThan(50);
    // Behind the policies every request got an answer, fresh or from the fallback.
    expect(report.protected.failed).toBe(0);
    expect(report.protected.ok + report.protected.fallback).toBe(report.protected.requests);
    // The bare client saw the 503s and the refused connections.
    expect(report.bare.failed).toBeGreaterThan(0);
    // The breaker isolated the dead dependency and closed again once it was back.
    expect(report.breakerTransitions.some((t) => t.to === 'open')).toBe(true);
    expect(report.breakerTransitions.at(-1)?.to).toBe('closed');
  });
});
