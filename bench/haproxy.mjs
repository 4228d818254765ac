// A real HAProxy in front of HTTP servers: the anchor bench:demo and bench:gateway measure
// steadfast's gateway against. A benchmark tool, not part of the package.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { freePort } from '../dist/index.js';

/**
 * How HAProxy is configured in front of the web replicas:
 * - `defaults`: the health checks most deployments keep (inter 2 s, fall 3, rise 2; retries 3,
 *   option redispatch, the usual 5 s / 50 s timeouts).
 * - `tuned`: as HAProxy's documentation recommends for fast failover, with the detection budget
 *   steadfast's registry gets (~0.5 s): checks every 100 ms, DOWN after 3 failures
 *   (`inter 100ms fall 3 rise 2`), a 1 s server timeout like the gateway's per-try deadline, layer-7
 *   retries on every retryable error (`retry-on all-retryable-errors`, HAProxy ≥ 2.0) sent to
 *   another server each time (`option redispatch 1`, `retries 3`).
 */

/** @type {Record<'defaults' | 'tuned', { defaults: string[], server: string }>} */
const PROFILES = {
  defaults: {
    defaults: ['  timeout connect 5s', '  timeout client 50s', '  timeout server 50s', '  retries 3', '  option redispatch'],
    server: '  default-server inter 2s fall 3 rise 2',
  },
  tuned: {
    defaults: ['  timeout connect 1s', '  timeout client 50s', '  timeout server 1s', '  retries 3', '  option redispatch 1', '  retry-on all-retryable-errors'],
    server: '  default-server inter 100ms fall 3 rise 2',
  },
};

/**
 * The anchor the demo compares its gateway with: a real HAProxy in front of the web replicas
 * (see PROFILES). Its health-check verdicts are read from its log, with the time we saw
 * them: HAProxy's own detection.
 */
export class HaproxyFront {
  /** @type {{ at: number, server: string, state: 'DOWN' | 'UP' }[]} */
  events = [];
  constructor(child, dir, url) {
    this.child = child;
    this.dir = dir;
    this.url = url;
  }

  /**
   * Starts `binary` in front of `webs` and resolves once `probePath` answers 200 through it.
   * HAProxy's health check asks each server for `checkPath`.
   */
  static async start(binary, webs, { profile = 'defaults', probePath = '/api/carts/warmup-0', checkPath = '/health' } = {}) {
    const p = PROFILES[profile];
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-haproxy-'));
    const cfg = [
      'global',
      '  maxconn 4096',
      '  log stderr format raw local0 info',
      'defaults',
      '  mode http',
      '  log global',
      ...p.defaults,
      '  option http-keep-alive',
      'frontend demo',
      `  bind 127.0.0.1:${port}`,
      '  default_backend web',
      'backend web',
      '  balance roundrobin',
      `  option httpchk GET ${checkPath}`,
      p.server,
      ...webs.map((w) => `  server ${w.name} 127.0.0.1:${w.port} check`),
      '',
    ].join('\n');
    const file = path.join(dir, 'haproxy.cfg');
    writeFileSync(file, cfg);
    const child = spawn(binary, ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    const front = new HaproxyFront(child, dir, `http://127.0.0.1:${port}`);
    let err = '';
    child.stderr.on('data', (c) => {
      const text = c.toString();
      if (err.length < 10_000) err += text;
      for (const m of text.matchAll(/Server web\/(\S+) is (DOWN|UP)/g)) front.events.push({ at: Date.now(), server: m[1], state: m[2] });
    });
    const until = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) {
        await front.stop();
        throw new Error(`steadfast demo: haproxy exited (${child.exitCode}): ${err.slice(0, 500)}`);
      }
      const ok = await request(`${front.url}${probePath}`, { headersTimeout: 1000, bodyTimeout: 1000 }).then(
        async (r) => (await r.body.dump(), r.statusCode === 200),
        () => false,
      );
      if (ok) return front;
      if (Date.now() > until) {
        await front.stop();
        throw new Error(`steadfast demo: haproxy did not answer on ${port} within 10 s: ${err.slice(0, 500)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** HAProxy's process id (for CPU accounting), undefined once it has exited. */
  get pid() {
    return this.child.exitCode === null ? this.child.pid : undefined;
  }

  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
