// Only what a node needs is imported up front (etcd3/gRPC and ioredis load only when used): a
// restarted node is serving sooner, and a restart storm costs less CPU.
import path from 'node:path';
import { ConsulElection } from '../election/consul.js';
import type { Election } from '../election/election.js';
import { HttpRegistry } from '../registry/http-client.js';
import { RegistryNotFoundError } from '../registry/errors.js';
import { exponentialBackoff } from '../policy/backoff.js';
import { retry } from '../policy/retry.js';
import type { CheckDefinition, Registry } from '../registry/registry.js';
import type { CheckpointStore } from '../recovery/store.js';
import { FileCheckpointStore } from '../recovery/stores/file.js';
import { FileJournal } from '../recovery/journals/file.js';
import type { Journal } from '../recovery/journal.js';
import { DEMO_NODE_ENV, DEMO_REGISTRY_ID, DEMO_ROLES, hostOf, type DemoNodeConfig, type DemoRegistryConfig } from './config.js';
import { createGatewayNode } from './gateway-node.js';
import { DbClient } from './db-client.js';
import { createDbNode, type DbEntry } from './db-node.js';
import { createWebNode } from './web-node.js';
import { isSkewMessage, tellSupervisor } from './protocol.js';
import { SkewedClock } from '../core/skewed-clock.js';
import type { Clock } from '../core/clock.js';
import { METRICS_META, withProcessMetrics } from './node-metrics.js';
import { promClient } from '../core/packages.js';
import { lifecycle } from '../lifecycle/lifecycle.js';

/** `steadfast demo-node`: runs the node described by STEADFAST_DEMO_NODE until it is stopped. */
export async function runDemoNodeFromEnv(): Promise<void> {
  const cfg = nodeConfigFromEnv();
  if (cfg.role === DEMO_REGISTRY_ID) await runDemoRegistry(cfg);
  else await runDemoNode(cfg);
}

/** Reads the node's configuration from STEADFAST_DEMO_NODE; the message says what is wrong. */
export function nodeConfigFromEnv(env = process.env): DemoNodeConfig | DemoRegistryConfig {
  const raw = env[DEMO_NODE_ENV];
  if (!raw) throw new Error(`${DEMO_NODE_ENV} is not set: demo nodes are started by 'steadfast demo', which passes their configuration there`);
  const cfg = JSON.parse(raw) as DemoNodeConfig | DemoRegistryConfig;
  if (cfg.role !== DEMO_REGISTRY_ID && !DEMO_ROLES.includes(cfg.role)) throw new Error(`${DEMO_NODE_ENV}: role must be ${[...DEMO_ROLES, DEMO_REGISTRY_ID].join(', ')}, got ${JSON.stringify(cfg.role)}`);
  return cfg;
}

/** An orphan must not live on: if the supervisor dies (even by SIGKILL), this process exits. */
function exitWithSupervisor(): void {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 250).unref();
}

/**
 * Runs the demo's registry in this process: restores what its folder holds (services, their
 * last check statuses, KV; the index, so fencing tokens never repeat), then serves the Consul
 * HTTP API on the port it always has. SIGTERM: pending blocking queries are answered, the server
 * closes, the last checkpoint is kept, and the process exits 0.
 */
export async function runDemoRegistry(cfg: DemoRegistryConfig): Promise<void> {
  exitWithSupervisor();
  const [{ EmbeddedRegistry }, { RegistryServer }] = await Promise.all([import('../registry/embedded.js'), import('../registry/server.js')]);
  const store = new FileCheckpointStore({ dir: cfg.dir });
  const registry = await EmbeddedRegistry.open({ store });
  registry.on('persistFailed', (e) => process.stderr.write(`registry: ${e.error.message}; writes are refused until a save succeeds\n`));
  // Its own /metrics: the registry's figures and this process's (CPU, memory, event loop).
  const metrics = withProcessMetrics(new (promClient().Registry)(), 'registry');
  const server = await new RegistryServer({ registry, port: cfg.port, host: hostOf(cfg), metrics }).listen();
  // Listed in itself like every other process, so one Consul discovery config finds all of them.
  await registry.register({ id: cfg.id, service: 'registry', address: hostOf(cfg), port: cfg.port, meta: { pid: String(process.pid), ...METRICS_META } });
  tellSupervisor({ type: 'ready', id: cfg.id, info: { index: registry.index } });
  const stop = async (): Promise<void> => {
    // Every node holds a blocking query: close() answers them; a socket still open after a
    // second goes with the process.
    await Promise.race([server.close(), new Promise((r) => setTimeout(r, 1000))]);
    await registry.close();
    await store.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

/**
 * Registers `instance`, trying again while the registry does not answer: a node started (or
 * restarted) while the registry is down or restarting waits for it instead of exiting, which the
 * supervisor would count as a crash. Backs off from 100 ms to 1 s (jittered), up to 1000 tries;
 * an error the registry answers with (a 400) is not retried.
 */
const patiently = retry({ maxAttempts: 1000, backoff: exponentialBackoff({ initialDelayMs: 100, maxDelayMs: 1000 }) });
function registerPatiently(registry: Registry, instance: Parameters<Registry['register']>[0]): Promise<void> {
  return patiently.execute(() => registry.register(instance));
}

async function registryFor(cfg: DemoNodeConfig): Promise<Registry> {
  if (cfg.registry.kind === 'consul') return new HttpRegistry({ url: cfg.registry.url, timeoutMs: 2000 });
  const { EtcdRegistry } = await import('../registry/etcd.js');
  return new EtcdRegistry({ endpoints: cfg.registry.endpoints, ttlMs: Math.max(1000, cfg.ttlMs) });
}

/** Where a db node's checkpoints and journal live: the run's folder, or Redis under the run's prefix. */
async function storageFor(cfg: DemoNodeConfig): Promise<{ store: CheckpointStore; journal: Journal<DbEntry> }> {
  if (cfg.store.kind === 'file') {
    // '.journal' cannot be a checkpoint stream's folder: stream names start with a letter or digit.
    const journal = await FileJournal.open<DbEntry>({ dir: path.join(cfg.store.dir, '.journal', cfg.id) });
    return { store: new FileCheckpointStore({ dir: cfg.store.dir }), journal };
  }
  const [{ RedisCheckpointStore }, { RedisJournal }] = await Promise.all([import('../recovery/stores/redis.js'), import('../recovery/journals/redis.js')]);
  const journal = await RedisJournal.open<DbEntry>({ url: cfg.store.url, name: cfg.id, prefix: `${cfg.store.prefix}journal:` });
  return { store: new RedisCheckpointStore({ url: cfg.store.url, prefix: cfg.store.prefix }), journal };
}

async function electionFor(cfg: DemoNodeConfig, clock: Clock): Promise<Election> {
  if (cfg.registry.kind === 'consul') return new ConsulElection('demo-maintenance', cfg.id, cfg.electionTtlMs, cfg.registry.url, undefined, 'steadfast/election/', clock);
  const { elect } = await import('../election/index.js');
  return elect({ backend: 'etcd', endpoints: cfg.registry.endpoints, name: 'demo-maintenance', candidateId: cfg.id, ttlMs: Math.max(1000, cfg.electionTtlMs), clock });
}

/**
 * The node's clock: the system's, until the supervisor's skew fault sets it off and drifting
 * (a `skew` message over IPC) — the web tier's election lease runs on it, so a leader whose
 * clock runs slow believes in its lease after the registry has ended it.
 */
function nodeClock(): SkewedClock {
  const clock = new SkewedClock();
  process.on('message', (m: unknown) => {
    if (!isSkewMessage(m)) return;
    try {
      clock.set({ offsetMs: m.offsetMs, driftPerSec: m.driftPerSec });
    } catch (err) {
      process.stderr.write(`skew refused: ${(err as Error).message}\n`);
    }
  });
  return clock;
}

/**
 * The node's health check: a TTL of ttlMs, or (detector 'phi') its heartbeats judged by φ
 * accrual — expecting one every heartbeatMs and allowing a pause of the rest of ttlMs, so a
 * crash is detected in about twice the TTL's time (φ needs the pause allowance and then its threshold), and lost heartbeats on a lossy link do not mark the node down (bench:detection-network).
 */
function checkFor(cfg: DemoNodeConfig): CheckDefinition {
  if (cfg.detector === 'phi') return { ttlMs: cfg.heartbeatMs, phi: { acceptableHeartbeatPauseMs: Math.max(1, cfg.ttlMs - cfg.heartbeatMs) }, status: 'critical' };
  return { ttlMs: cfg.ttlMs, status: 'critical' };
}

/**
 * Runs one demo node (db, web or gateway) in this process: starts it, registers it with a TTL check that
 * stays critical until the node is ready (a db node: restored and caught up), then renews the
 * check every heartbeatMs. Prints `ready <id> <json>` when it is, for the supervisor's log.
 */
export async function runDemoNode(cfg: DemoNodeConfig): Promise<void> {
  exitWithSupervisor();
  const registry = await registryFor(cfg);
  const checkId = `service:${cfg.id}`;
  const instance = { id: cfg.id, service: cfg.role, address: hostOf(cfg), port: cfg.port, meta: { pid: String(process.pid), ...METRICS_META }, checks: [checkFor(cfg)] };
  let close: () => Promise<void>;
  let server: import('node:http').Server;
  let info: unknown = {};
  // Register first (critical): the registry sees a restarted node at once, as not yet serving.
  await registerPatiently(registry, instance);
  if (cfg.role === 'db') {
    const { store, journal } = await storageFor(cfg);
    const node = createDbNode(cfg, store, journal);
    server = node.server;
    info = await node.start();
    // SIGTERM (lifecycle): a final checkpoint, so the next start replays nothing.
    close = async () => {
      await node.shutdown();
      await store.close();
    };
  } else if (cfg.role === 'gateway') {
    const node = createGatewayNode(cfg, registry);
    server = node.gateway.httpServer;
    await node.start();
    close = () => node.close();
  } else {
    const db = new DbClient({ nodes: cfg.dbNodes, replicas: cfg.replicas, writeQuorum: cfg.writeQuorum, perTryTimeoutMs: cfg.dbTimeoutMs, hedgeAfterMs: 100, registry, secret: cfg.secret });
    const clock = nodeClock();
    const election = await electionFor(cfg, clock);
    election.on('error', () => {});
    election.on('elected', ({ fencingToken }) => tellSupervisor({ type: 'elected', id: cfg.id, fencingToken }));
    const node = createWebNode(cfg, db, election, clock);
    server = node.server;
    await node.start();
    close = async () => {
      await election.resign().catch(() => {});
      await node.close();
      await db.close();
    };
  }
  const beat = async (): Promise<void> => {
    try {
      await registry.pass(checkId, 'ready');
    } catch (err) {
      // Down, paused or slow: the next beat tries again (re-registering would mark this node
      // critical in a registry that still has it passing). Forgotten (a registry that restarted
      // without it): register again and pass at once.
      if (!(err instanceof RegistryNotFoundError)) return;
      await registry
        .register(instance)
        .then(() => registry.pass(checkId, 'ready'))
        .catch(() => {});
    }
  };
  await beat();
  const heartbeat = setInterval(() => void beat(), cfg.heartbeatMs);
  tellSupervisor({ type: 'ready', id: cfg.id, info });
  // SIGTERM / SIGINT: out of the registry, 300 ms for the gateway's watch to see it (it is pushed),
  // requests in flight finish, then the node closes (a db node's journal last) and the process
  // exits 0 — or 1 when the drain did not complete.
  const lc = lifecycle({ server, registry, instanceId: cfg.id, shutdownDelayMs: 300, drainTimeoutMs: 10_000 });
  lc.on('state', ({ state }) => {
    if (state === 'draining') clearInterval(heartbeat); // a heartbeat would register it again
  });
  lc.onShutdown('registry: close', () => registry.close());
  lc.onShutdown(`${cfg.role} node: close`, () => close());
  lc.started();
}
