import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../src/chaos/fault-proxy.js';

/** An upstream that echoes what it gets; `closeAfter` makes it end its side after answering once. */
let echo: net.Server;
let echoPort: number;
beforeAll(async () => {
  echo = net.createServer((s) => {
    s.on('data', (d) => {
      s.write(d);
      if (d.toString().includes('bye')) s.end();
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as net.AddressInfo).port;
});
afterAll(() => echo.close());

let proxy: FaultProxy;
afterEach(async () => {
  await proxy?.stop();
});

async function open(): Promise<FaultProxy> {
  proxy = await new FaultProxy({ upstream: `127.0.0.1:${echoPort}` }).start();
  return proxy;
}

/** Connects through the proxy, sends `data`, and collects what comes back until close or `waitMs`. */
function exchange(port: number, data: string, waitMs = 1500): Promise<{ received: string; chunks: number; closedAfterMs: number | null; error: string | null; firstByteMs: number | null }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const sock = net.connect(port, '127.0.0.1');
    let received = '';
    let chunks = 0;
    let firstByteMs: number | null = null;
    let error: string | null = null;
    const done = (closed: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ received, chunks, closedAfterMs: closed ? Date.now() - started : null, error, firstByteMs });
    };
    const timer = setTimeout(() => done(false), waitMs);
    sock.on('data', (d) => {
      firstByteMs ??= Date.now() - started;
      received += d.toString();
      chunks++;
    });
    sock.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    sock.on('close', () => done(true));
    sock.write(data);
  });
}

describe('toxics: one module each, one table', () => {
  it('every toxic in the table is accepted with its defaults, and refuses attributes it does not take', async () => {
    const { TOXICS } = await import('../../src/chaos/toxics/index.js');
    const { normalizeToxic } = await import('../../src/chaos/fault-proxy.js');
    expect(Object.keys(TOXICS).sort()).toEqual(['bandwidth', 'latency', 'limit_data', 'reset_peer', 'slicer', 'slow_close', 'timeout']);
    for (const [type, kind] of Object.entries(TOXICS)) {
      const t = normalizeToxic({ type: type as never });
      expect(t.attributes).toEqual(kind.attributes);
      expect(() => normalizeToxic({ type: type as never, attributes: { nope: 1 } })).toThrow(new RegExp(`attributes\\.nope is not an attribute of a ${type} toxic`));
    }
  });
});

describe('FaultProxy on ManualClock: toxics delay by clock time, not by how fast the machine is', () => {
  const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 2));
  it('latency holds a chunk until the clock has moved by it; timeout N closes after N ms of clock time (a minute each, in milliseconds of real time)', async () => {
    const { ManualClock } = await import('../../src/core/clock.js');
    const clock = new ManualClock();
    // An upstream that notes the clock time each chunk arrives.
    const arrivals: number[] = [];
    const sink = net.createServer((c) => c.on('data', () => arrivals.push(clock.now())).on('error', () => {}));
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    proxy = await new FaultProxy({ upstream: `127.0.0.1:${(sink.address() as net.AddressInfo).port}`, clock }).start();
    proxy.addToxic({ type: 'latency', stream: 'upstream', attributes: { latency: 60_000, jitter: 0 } });
    const sock = net.connect(proxy.port, '127.0.0.1');
    sock.on('error', () => {});
    await new Promise((r) => sock.once('connect', r));
    sock.write('ping');
    // However long real time runs, nothing arrives while the clock stands still.
    for (let i = 0; i < 50; i++) await tick();
    expect(arrivals).toEqual([]);
    // A minute of clock time in 60 steps: real timers would not have fired in the few ms this takes.
    while (arrivals.length === 0 && clock.now() < 120_000) {
      clock.advance(1000);
      await tick();
    }
    // Never before the latency (how much after depends only on when the proxy read the chunk).
    expect(arrivals[0]).toBeGreaterThanOrEqual(60_000);
    sock.destroy();
    await expect.poll(() => proxy.connections, { interval: 2, timeout: 10_000 }).toBe(0);

    proxy.removeToxic(proxy.toxics[0]!.name);
    proxy.addToxic({ type: 'timeout', attributes: { timeout: 60_000 } });
    const s2 = net.connect(proxy.port, '127.0.0.1');
    let closed = false;
    s2.on('close', () => (closed = true));
    s2.on('error', () => {});
    await new Promise((r) => s2.once('connect', r));
    await expect.poll(() => proxy.connections, { interval: 2, timeout: 10_000 }).toBe(1); // accepted: its timeout is armed
    clock.advance(59_999);
    for (let i = 0; i < 20; i++) await tick();
    expect(closed).toBe(false);
    clock.advance(1);
    await expect.poll(() => closed, { interval: 2, timeout: 10_000 }).toBe(true);
    sink.close();
  });
});

describe('FaultProxy, toxic by toxic, with real sockets', () => {
  it('passes data straight through with no toxic', async () => {
    const p = await open();
    const r = await exchange(p.port, 'hello bye');
    expect(r.received).toBe('hello bye');
  });

  it('latency: delays every chunk by latency ± jitter', async () => {
    const p = await open();
    p.addToxic({ type: 'latency', attributes: { latency: 200, jitter: 0 } });
    const r = await exchange(p.port, 'ping bye');
    expect(r.received).toBe('ping bye');
    expect(r.firstByteMs).toBeGreaterThanOrEqual(190);
  });

  it('bandwidth: holds the data to rate KB/s', async () => {
    const p = await open();
    p.addToxic({ type: 'bandwidth', attributes: { rate: 8 } });
    const payload = 'x'.repeat(4096) + 'bye';
    const r = await exchange(p.port, payload, 3000);
    expect(r.received.length).toBe(payload.length);
    expect(r.closedAfterMs ?? 3000).toBeGreaterThanOrEqual(400); // 4 KB at 8 KB/s ≈ 500 ms
  });

  it('timeout 0: swallows data and holds the connection open', async () => {
    const p = await open();
    p.addToxic({ type: 'timeout', attributes: { timeout: 0 } });
    const r = await exchange(p.port, 'anyone bye', 400);
    expect(r.received).toBe('');
    expect(r.closedAfterMs).toBeNull();
  });

  it('timeout N: closes the connection after N ms with no data', async () => {
    const p = await open();
    p.addToxic({ type: 'timeout', attributes: { timeout: 150 } });
    const r = await exchange(p.port, 'anyone', 2000);
    expect(r.received).toBe('');
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(140);
  });

  it('reset_peer: resets the connection (ECONNRESET) after its timeout', async () => {
    const p = await open();
    p.addToxic({ type: 'reset_peer', attributes: { timeout: 100 } });
    const r = await exchange(p.port, 'x', 2000);
    expect(r.error).toBe('ECONNRESET');
  });

  it('slow_close: holds back the close by delay ms', async () => {
    const p = await open();
    p.addToxic({ type: 'slow_close', attributes: { delay: 300 } });
    const r = await exchange(p.port, 'bye', 2000);
    expect(r.received).toBe('bye');
    expect(r.closedAfterMs).toBeGreaterThanOrEqual(290);
  });

  it('slicer: cuts data into small pieces with a delay between them', async () => {
    const p = await open();
    p.addToxic({ type: 'slicer', attributes: { average_size: 4, size_variation: 1, delay: 2000 } });
    const r = await exchange(p.port, 'abcdefghijklmnopqrstuvwxyz bye', 2000);
    expect(r.received).toBe('abcdefghijklmnopqrstuvwxyz bye');
    expect(r.chunks).toBeGreaterThan(3);
  });

  it('limit_data: closes the connection after so many bytes', async () => {
    const p = await open();
    p.addToxic({ type: 'limit_data', attributes: { bytes: 10 } });
    const r = await exchange(p.port, 'abcdefghijklmnopqrstuvwxyz', 2000);
    expect(r.received).toBe('abcdefghij');
    expect(r.closedAfterMs).not.toBeNull();
  });

  it('upstream stream: a toxic on the client → server direction', async () => {
    const p = await open();
    p.addToxic({ type: 'limit_data', stream: 'upstream', attributes: { bytes: 3 } });
    const r = await exchange(p.port, 'abcdef', 1000);
    expect('abc'.startsWith(r.received)).toBe(true); // at most the 3 bytes that got through, echoed
    expect(r.closedAfterMs).not.toBeNull();
  });

  it('toxicity 0: the toxic never applies', async () => {
    const p = await open();
    p.addToxic({ type: 'timeout', toxicity: 0, attributes: { timeout: 0 } });
    const r = await exchange(p.port, 'free bye');
    expect(r.received).toBe('free bye');
  });

  it('disabled: refuses connections (the service is down); enabled again on the same port', async () => {
    const p = await open();
    const port = p.port;
    await p.setEnabled(false);
    const r = await exchange(port, 'x', 1000);
    expect(r.error).toBe('ECONNREFUSED');
    await p.setEnabled(true);
    expect(p.port).toBe(port);
    expect((await exchange(port, 'back bye')).received).toBe('back bye');
  });

  it('rejects bad toxics and addresses, naming the field', async () => {
    const p = await open();
    expect(() => p.addToxic({ type: 'explode' as never })).toThrow(/type must be one of 'latency'/);
    expect(() => p.addToxic({ type: 'latency', attributes: { delay: 5 } })).toThrow(/attributes\.delay is not an attribute of a latency toxic/);
    expect(() => p.addToxic({ type: 'latency', toxicity: 2 })).toThrow(/toxicity must be a number ≥ 0 and ≤ 1/);
    p.addToxic({ type: 'latency' });
    expect(() => p.addToxic({ type: 'latency' })).toThrow(/already exists/);
    expect(() => new FaultProxy({ upstream: 'nohost' })).toThrow(/upstream must be host:port/);
  });
});
