import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { freePort, requestDeadline } from '../../src/core/http.js';

describe('requestDeadline', () => {
  it("ends a request to a server that never answers on its own timer, with undici's timeout code", async () => {
    const server = http.createServer(() => {}); // accepts, never answers: a stopped process
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const agent = new Agent({ connections: 1 });
    try {
      const d = requestDeadline(100);
      // undici's own timeout is a minute away: only the deadline can end this request.
      const err = (await request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { dispatcher: agent, signal: d.signal, headersTimeout: 60_000 }).catch((e: unknown) => e)) as { code?: string; message: string };
      d.clear();
      expect(d.timedOut()).toBe(true);
      expect(err.code).toBe('UND_ERR_HEADERS_TIMEOUT');
      expect(err.message).toMatch(/no answer within 100 ms/);
    } finally {
      await agent.close().catch(() => {});
      server.closeAllConnections();
      server.close();
    }
  }, 30_000);

  it('passes an outer abort on, and does not fire once cleared', async () => {
    const outer = new AbortController();
    const d = requestDeadline(50, outer.signal);
    outer.abort(new Error('caller gave up'));
    expect(d.signal.aborted).toBe(true);
    expect((d.signal.reason as Error).message).toBe('caller gave up');
    d.clear();
    const e = requestDeadline(20);
    e.clear();
    await new Promise((r) => setTimeout(r, 60));
    expect(e.signal.aborted).toBe(false);
    expect(e.timedOut()).toBe(false);
  });
});

describe('freePort', () => {
  const RANGE = '/proc/sys/net/ipv4/ip_local_port_range';
  it('gives a port below the ephemeral range on Linux (an outgoing connection never takes it while its server restarts), free to listen on', async () => {
    const low = existsSync(RANGE) ? Number(readFileSync(RANGE, 'utf8').trim().split(/\s+/)[0]) : undefined;
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const port of ports) {
      if (low !== undefined && low > 11_000) {
        expect(port).toBeGreaterThanOrEqual(10_000);
        expect(port).toBeLessThan(low);
      }
      const s = net.createServer();
      await new Promise<void>((resolve, reject) => s.once('error', reject).listen(port, '127.0.0.1', resolve));
      await new Promise<void>((r) => s.close(() => r()));
    }
  });
});
