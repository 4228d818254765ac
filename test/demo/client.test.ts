import { describe, expect, it } from 'vitest';
import { DemoClient } from '../../src/demo/client.js';

const cfg = { urls: 'http://127.0.0.1:9', ratePerSec: 10, durationMs: 100, warmUpMs: 0, seed: 1, carts: 1, writeShare: 0, perTryTimeoutMs: 100, hedgeAfterMs: 50, probe: { path: '/', intervalMs: 100, timeoutMs: 100 } };

describe("the demo's client process", () => {
  it('a client that dies before it is ready is named with its exit and last output', async () => {
    const command = [process.execPath, '-e', "process.stderr.write('cannot reach the gateways\\n'); process.exit(3)"];
    await expect(DemoClient.start(command, cfg)).rejects.toThrow(/the load's client exited \(code 3\); its last output:\n {2}cannot reach the gateways/);
  });

  it("reads the client's clock against this process's over IPC: the offset moves its times onto ours", async () => {
    // A stand-in client whose clock runs 5 s ahead: it answers pings, then reports one answer. The
    // bounds allow a second of IPC delay: what is checked is that the 5 s are taken off.
    const script = `
      const now = () => performance.timeOrigin + performance.now() + 5000;
      process.on('message', (m) => {
        if (m.type === 'ping') process.send({ type: 'pong', t0: m.t0, t1: now() });
        if (m.type === 'go') {
          const at = now();
          process.send({ type: 'started', at });
          process.send({ type: 'results', r: [1, 12, at], totals: { writes: 0, acknowledged: 0, degradedReads: 0 } });
          process.send({ type: 'loaded', load: { sent: 1, durationMs: 1, sendLagMs: { p50: 0, p99: 0, max: 0 }, failures: [], totals: { writes: 0, acknowledged: 0, degradedReads: 0 }, overload: { served: 1, shed: 0, deadline: 0 }, servedMs: { p50: 12, p99: 12 } } });
        }
      });
      process.on('disconnect', () => process.exit(0));
      process.send({ type: 'hello' });`;
    const client = await DemoClient.start([process.execPath, '-e', script], cfg);
    try {
      expect(client.offsetMs).toBeGreaterThan(-6000);
      expect(client.offsetMs).toBeLessThan(-4000);
      const seen: number[] = [];
      const before = performance.timeOrigin + performance.now();
      const load = await client.run({ started: (at) => seen.push(at), answer: (ok, ms, at) => seen.push(at), totals: () => {} });
      const after = performance.timeOrigin + performance.now();
      expect(load.sent).toBe(1);
      expect(seen).toHaveLength(2);
      for (const at of seen) {
        expect(at).toBeGreaterThan(before - 1000);
        expect(at).toBeLessThan(after + 1000);
      }
    } finally {
      client.kill();
    }
  });
});
