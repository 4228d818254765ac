/**
 * Real servers for integration tests: redis-server and etcd, each started on a free
 * loopback port in its own temp folder and stopped after the suite.
 *
 * A missing binary skips the suites that need it, with a message naming the Debian
 * package — except under CI=true, where it is a failure (a green CI must mean the
 * integration tests ran).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { freePort } from '../../src/core/http.js';

/** A port that was free a moment ago on 127.0.0.1 (the library's own helper). */
export { freePort };

export interface ServerKind {
  binary: string;
  debianPackage: string;
  /** Environment variable that overrides where the binary is (a path; empty = missing). */
  env: string;
  /** Finds it when more than a binary on the PATH is needed (a module an interpreter must import). */
  find?: () => string | undefined;
}

export const REDIS: ServerKind = { binary: 'redis-server', debianPackage: 'redis-server', env: 'STEADFAST_REDIS_SERVER' };
export const ETCD: ServerKind = { binary: 'etcd', debianPackage: 'etcd-server', env: 'STEADFAST_ETCD' };
/** Headless Chromium for browser tests (driven by playwright-core; no browser download). */
export const CHROMIUM: ServerKind = { binary: 'chromium', debianPackage: 'chromium', env: 'STEADFAST_CHROMIUM' };
/** promtool (Debian's prometheus package): checks Prometheus text and rules files. */
export const PROMTOOL: ServerKind = { binary: 'promtool', debianPackage: 'prometheus', env: 'STEADFAST_PROMTOOL' };
/** Python 3 with python-consul, a Consul client nobody here wrote (Debian's python3-consul goes with Debian's python3). */
export const PYTHON_CONSUL: ServerKind = {
  binary: 'python3 (with the consul module)',
  debianPackage: 'python3-consul',
  env: 'STEADFAST_PYTHON_CONSUL',
  find: () => ['/usr/bin/python3', findBinary('python3')].find((py) => py !== undefined && spawnSync(py, ['-c', 'import consul'], { stdio: 'ignore' }).status === 0),
};

export function findServer(kind: ServerKind): string | undefined {
  const override = process.env[kind.env];
  if (override !== undefined) return override !== '' && existsSync(override) ? override : undefined;
  return kind.find ? kind.find() : findBinary(kind.binary);
}

export function findBinary(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  for (const dir of ['/usr/bin', '/usr/local/bin', '/usr/sbin']) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

export interface RunningServer {
  host: string;
  port: number;
  /** redis://127.0.0.1:P or http://127.0.0.1:P */
  url: string;
  dir: string;
  process: ChildProcess;
  /** Output so far, for error messages. */
  log(): string;
  /** Sends SIGKILL (a crash) without cleaning up. */
  kill(signal?: NodeJS.Signals): void;
  /**
   * Kills the server with `signal`, waits for it to exit, and starts it again on the same port
   * and folder; `wipe` starts it with no data (etcd).
   */
  restart(signal?: NodeJS.Signals, options?: { wipe?: boolean }): Promise<RunningServer>;
  stop(): Promise<void>;
}

async function waitFor(check: () => Promise<boolean>, what: string, log: () => string, child: ChildProcess, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready:\n${log()}`);
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms:\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Sends one RESP command over a fresh socket; resolves with the raw reply. */
export function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.setTimeout(2000, () => sock.destroy(new Error('redis command timed out')));
    sock.on('error', reject);
    sock.on('data', (chunk) => {
      data += chunk.toString('utf8');
      if (data.endsWith('\r\n')) {
        sock.end();
        resolve(data);
      }
    });
    sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  });
}

function spawnServer(binary: string, args: string[], dir: string): { child: ChildProcess; log: () => string } {
  const child = spawn(binary, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, log: () => output };
}

function stopper(child: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

async function launchRedis(binary: string, port: number, dir: string, extraArgs: string[]): Promise<RunningServer> {
  const { child, log } = spawnServer(binary, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', ...extraArgs], dir);
  try {
    await waitFor(async () => (await redisCommand(port, 'PING')).startsWith('+PONG'), `redis-server on port ${port}`, log, child);
  } catch (err) {
    child.kill('SIGKILL');
    await exited(child);
    throw err;
  }
  const server: RunningServer = {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    process: child,
    log,
    kill: (sig = 'SIGKILL') => void child.kill(sig),
    restart: async (sig = 'SIGKILL') => {
      child.kill(sig);
      await exited(child);
      // The port can linger for a moment; try again briefly.
      for (let i = 0; ; i++) {
        try {
          return await launchRedis(binary, port, dir, extraArgs);
        } catch (err) {
          if (i >= 20) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    },
    stop: stopper(child, dir),
  };
  return server;
}

/** A redis-server on a free loopback port in a temp folder; later args override earlier ones. */
export async function startRedis(extraArgs: string[] = []): Promise<RunningServer> {
  const binary = findServer(REDIS);
  if (!binary) throw new Error(`redis-server not found; install it with: apt-get install -y ${REDIS.debianPackage}`);
  let lastError: unknown;
  for (let tries = 0; tries < 5; tries++) {
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-redis-'));
    try {
      return await launchRedis(binary, port, dir, extraArgs);
    } catch (err) {
      lastError = err;
      rmSync(dir, { recursive: true, force: true });
      if (!/Address already in use/.test(String(err))) break;
    }
  }
  throw lastError;
}

async function launchEtcd(binary: string, port: number, peer: number, dir: string): Promise<RunningServer> {
  const client = `http://127.0.0.1:${port}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const { child, log } = spawnServer(
    binary,
    [
      '--name', 'steadfast-test',
      '--data-dir', path.join(dir, 'data'),
      '--listen-client-urls', client,
      '--advertise-client-urls', client,
      '--listen-peer-urls', peerUrl,
      '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', `steadfast-test=${peerUrl}`,
      '--initial-cluster-state', 'new',
      '--log-level', 'warn',
    ],
    dir,
  );
  try {
    await waitFor(
      async () => {
        const res = await fetch(`${client}/health`, { signal: AbortSignal.timeout(2000) });
        const body = (await res.json()) as { health?: string };
        return res.ok && body.health === 'true';
      },
      `etcd on port ${port}`,
      log,
      child,
    );
  } catch (err) {
    child.kill('SIGKILL');
    await exited(child);
    throw err;
  }
  return {
    host: '127.0.0.1',
    port,
    url: client,
    dir,
    process: child,
    log,
    kill: (s = 'SIGKILL') => void child.kill(s),
    restart: async (sig = 'SIGKILL', options?: { wipe?: boolean }) => {
      child.kill(sig);
      await exited(child);
      if (options?.wipe) rmSync(path.join(dir, 'data'), { recursive: true, force: true });
      for (let i = 0; ; i++) {
        try {
          return await launchEtcd(binary, port, peer, dir);
        } catch (err) {
          if (i >= 20) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    stop: stopper(child, dir),
  };
}

export async function startEtcd(): Promise<RunningServer> {
  const binary = findServer(ETCD);
  if (!binary) throw new Error(`etcd not found; install it with: apt-get install -y ${ETCD.debianPackage}`);
  let lastError: unknown;
  for (let tries = 0; tries < 5; tries++) {
    const port = await freePort();
    const peer = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-etcd-'));
    try {
      return await launchEtcd(binary, port, peer, dir);
    } catch (err) {
      lastError = err;
      rmSync(dir, { recursive: true, force: true });
      if (!/address already in use/i.test(String(err))) break;
    }
  }
  throw lastError;
}

const isCI = (): boolean => process.env.CI === 'true' || process.env.CI === '1';

/**
 * `describe` for a suite that needs a server binary: skipped with a message naming the
 * Debian package when it is missing, failed under CI=true.
 */
export function describeNeeding(kind: ServerKind, name: string, body: () => void): void {
  if (!findServer(kind)) {
    const message = `${kind.binary} not found: install the Debian package '${kind.debianPackage}' (apt-get install -y ${kind.debianPackage})`;
    if (isCI()) {
      describe(name, () => {
        it(`needs ${kind.binary}`, () => {
          throw new Error(`${message}; under CI=true a missing server is a failure, not a skip`);
        });
      });
    } else {
      console.warn(`[steadfast tests] skipping "${name}": ${message}`);
      // Intended: outside CI a machine without the server still runs every other suite; the
      // skip names the Debian package to install (test/support/harness-skip.test.ts checks it).
      describe.skip(`${name} (skipped: ${message})`, body);
    }
    return;
  }
  describe(name, body);
}

/**
 * `describe` for a suite that needs a real server. The server starts before the suite
 * and stops after it; `server()` returns it inside tests.
 */
export function describeWithServer(
  kind: ServerKind,
  name: string,
  start: () => Promise<RunningServer>,
  body: (server: () => RunningServer) => void,
): void {
  describeNeeding(kind, name, () => {
    let server: RunningServer | undefined;
    beforeAll(async () => {
      server = await start();
    });
    afterAll(async () => {
      await server?.stop();
    });
    body(() => {
      if (!server) throw new Error(`${kind.binary} did not start`);
      return server;
    });
  });
}

export const describeWithRedis = (name: string, body: (server: () => RunningServer) => void): void =>
  describeWithServer(REDIS, name, () => startRedis(), body);

export const describeWithEtcd = (name: string, body: (server: () => RunningServer) => void): void =>
  describeWithServer(ETCD, name, () => startEtcd(), body);
