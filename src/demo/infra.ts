import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import type { SupervisedProcess } from '../chaos/process-chaos.js';
import { systemClock } from '../core/clock.js';
import { freePort, requestDeadline } from '../core/http.js';
import { DEMO_NODE_ENV, DEMO_REGISTRY_ID, type DemoRegistryConfig } from './config.js';

/** What the demo's processes that are not registered services are: its registry, or its etcd members. */
export type InfraRole = 'registry' | 'etcd';

/** One such process: how to start it, and where it answers the supervisor's probe. */
export interface InfraProcess {
  name: string;
  role: InfraRole;
  /** The address and port clients use (the same across restarts). */
  host: string;
  port: number;
  process: SupervisedProcess;
}

/** How often the supervisor asks each of them whether it answers, and how long it waits. */
export const INFRA_PROBE_MS = 100;
export const INFRA_PROBE_TIMEOUT_MS = 300;

/**
 * The embedded registry's process: steadfast's Consul-compatible server on a fixed port, its
 * state checkpointed in `dir` (emptied first: a new run starts with an empty registry).
 */
export async function registryProcess(command: string[], dir: string, host = '127.0.0.1'): Promise<InfraProcess> {
  const port = await freePort();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const cfg: DemoRegistryConfig = { role: DEMO_REGISTRY_ID, id: DEMO_REGISTRY_ID, port, host, dir };
  return { name: DEMO_REGISTRY_ID, role: 'registry', host, port, process: { name: DEMO_REGISTRY_ID, command: [...command, 'demo-node'], ipc: true, env: { [DEMO_NODE_ENV]: JSON.stringify(cfg) } } };
}

/** Where the etcd binary is (Debian's etcd-server package puts it in /usr/bin), or undefined. */
export function findEtcd(env = process.env): string | undefined {
  if (env.STEADFAST_ETCD !== undefined) return env.STEADFAST_ETCD !== '' && existsSync(env.STEADFAST_ETCD) ? env.STEADFAST_ETCD : undefined;
  for (const dir of [...(env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/bin', '/usr/local/bin']) {
    const candidate = path.join(dir, 'etcd');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * A 3-member etcd cluster of the demo's own, each member its own process with its data in
 * `dir/etcd-<i>` (emptied first). A killed member restarts from its data folder and rejoins; the
 * cluster keeps its quorum with one member down. Heartbeat 100 ms and election timeout 1000 ms
 * (etcd's defaults): a paused leader is replaced in about a second.
 */
export async function etcdClusterProcesses(binary: string, dir: string, members = 3): Promise<InfraProcess[]> {
  const ports: { name: string; client: number; peer: number }[] = [];
  for (let i = 1; i <= members; i++) ports.push({ name: `etcd-${i}`, client: await freePort(), peer: await freePort() });
  const cluster = ports.map((p) => `${p.name}=http://127.0.0.1:${p.peer}`).join(',');
  return ports.map((p) => {
    const data = path.join(dir, p.name);
    rmSync(data, { recursive: true, force: true });
    mkdirSync(data, { recursive: true });
    const client = `http://127.0.0.1:${p.client}`;
    const peer = `http://127.0.0.1:${p.peer}`;
    const args = ['--name', p.name, '--data-dir', data, '--listen-client-urls', client, '--advertise-client-urls', client, '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', cluster, '--initial-cluster-state', 'new', '--initial-cluster-token', `steadfast-demo-${path.basename(dir)}`, '--log-level', 'error'];
    return { name: p.name, role: 'etcd' as const, host: '127.0.0.1', port: p.client, process: { name: p.name, command: [binary, ...args] } };
  });
}

/**
 * Asks each process every 100 ms whether it answers (300 ms at most, on a timer of its own): the
 * registry its catalog, an etcd member its /health. A change of answer calls `onChange` — the
 * supervisor's detection and restore of that process's incident, as a monitor outside it sees.
 */
export class InfraProbes {
  private readonly upNow = new Map<string, boolean>();
  private readonly details = new Map<string, Record<string, unknown>>();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    readonly processes: InfraProcess[],
    private readonly onChange: (name: string, up: boolean, at: number) => void,
  ) {
    for (const p of processes) this.upNow.set(p.name, false);
  }

  isUp(name: string): boolean {
    return this.upNow.get(name) === true;
  }

  get allUp(): boolean {
    return [...this.upNow.values()].every(Boolean);
  }

  /** Names of those that did not answer their last probe. */
  get down(): string[] {
    return [...this.upNow].filter(([, up]) => !up).map(([n]) => n);
  }

  has(name: string): boolean {
    return this.upNow.has(name);
  }

  detail(name: string): Record<string, unknown> | undefined {
    return this.details.get(name);
  }

  start(): void {
    for (const p of this.processes) {
      let inFlight = false;
      this.timers.push(
        setInterval(() => {
          if (inFlight) return;
          inFlight = true;
          void this.probe(p).then((up) => {
            inFlight = false;
            if (up === this.upNow.get(p.name)) return;
            this.upNow.set(p.name, up);
            this.onChange(p.name, up, systemClock.now());
          });
        }, INFRA_PROBE_MS),
      );
    }
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
  }

  private async probe(p: InfraProcess): Promise<boolean> {
    const url = `http://${p.host}:${p.port}${p.role === 'registry' ? '/v1/catalog/services' : '/health'}`;
    const deadline = requestDeadline(INFRA_PROBE_TIMEOUT_MS);
    try {
      const res = await request(url, { signal: deadline.signal, headersTimeout: INFRA_PROBE_TIMEOUT_MS + 1000, bodyTimeout: INFRA_PROBE_TIMEOUT_MS + 1000 });
      if (res.statusCode !== 200) {
        await res.body.dump();
        return false;
      }
      const body = (await res.body.json()) as Record<string, unknown>;
      if (p.role === 'registry') {
        this.details.set(p.name, { services: Object.keys(body).length, index: Number(res.headers['x-consul-index'] ?? 0) });
        return true;
      }
      // etcd: {"health":"true"} only while the member is in a cluster with a leader.
      const healthy = body.health === 'true';
      this.details.set(p.name, { health: healthy });
      return healthy;
    } catch {
      return false;
    } finally {
      deadline.clear();
    }
  }
}
