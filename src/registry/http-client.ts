import type { Dispatcher } from 'undici';
import { undici } from '../core/packages.js';
import type { Disposable } from '../core/events.js';
import { checkOptions, checkString } from '../core/options.js';
import { formatDuration } from './duration.js';
import { RegistryNotFoundError, RegistryValidationError } from './errors.js';
import { normalizeInstance, worstStatus, type CheckState, type CheckStatus, type InstanceHealth, type Registry, type ServiceInstance } from './registry.js';
import { ErrorCode, InvalidOptionError, SteadfastError } from '../core/errors.js';

export interface HttpRegistryOptions {
  /** The agent: our RegistryServer or a real Consul agent, e.g. http://127.0.0.1:8500. */
  url: string;
  /** ACL token, sent as X-Consul-Token. */
  token?: string;
  /** Per-request timeout (blocking queries add their wait). Default 10 000. */
  timeoutMs?: number;
  /** Blocking-query wait used by watch(). Default 30 000. */
  watchWaitMs?: number;
}

interface ConsulHealthEntry {
  Service: { ID: string; Service: string; Address: string; Port: number; Tags: string[] | null; Meta: Record<string, string> | null };
  Checks: { CheckID: string; Name: string; Status: CheckStatus; Output: string; Notes: string; ServiceID: string; ServiceName: string; Type: string }[];
}

/**
 * A Registry over Consul's HTTP API — against our RegistryServer or a real Consul agent, so the
 * same code runs embedded on one machine and on a Consul cluster.
 */
export class HttpRegistry implements Registry {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly watchWaitMs: number;
  private readonly watchers = new Set<AbortController>();

  constructor(options: HttpRegistryOptions) {
    const scope = 'HttpRegistry';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { url } are required`);
    const o = checkOptions<HttpRegistryOptions>(scope, options, ['url', 'token', 'timeoutMs', 'watchWaitMs']);
    const url = checkString(scope, 'url', o.url).replace(/\/+$/, '');
    if (!/^https?:\/\//.test(url)) throw new InvalidOptionError(`${scope}: url must be http:// or https://, got ${JSON.stringify(o.url)}`);
    this.url = url;
    this.token = o.token;
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.watchWaitMs = o.watchWaitMs ?? 30_000;
  }

  async register(input: ServiceInstance): Promise<void> {
    const i = normalizeInstance('HttpRegistry.register', input);
    const checks = (i.checks ?? []).map((c) => ({
      CheckID: c.id,
      Name: c.name,
      ...(c.http !== undefined ? { HTTP: c.http, Interval: formatDuration(c.intervalMs ?? 10_000) } : {}),
      ...(c.tcp !== undefined ? { TCP: c.tcp, Interval: formatDuration(c.intervalMs ?? 10_000) } : {}),
      ...(c.ttlMs !== undefined ? { TTL: formatDuration(c.ttlMs) } : {}),
      ...(c.phi?.threshold !== undefined ? { PhiThreshold: c.phi.threshold } : {}),
      ...(c.phi?.acceptableHeartbeatPauseMs !== undefined ? { PhiAcceptablePause: formatDuration(c.phi.acceptableHeartbeatPauseMs) } : {}),
      ...(c.timeoutMs !== undefined ? { Timeout: formatDuration(c.timeoutMs) } : {}),
      ...(c.deregisterCriticalAfterMs !== undefined ? { DeregisterCriticalServiceAfter: formatDuration(c.deregisterCriticalAfterMs) } : {}),
      ...(c.successBeforePassing !== undefined ? { SuccessBeforePassing: c.successBeforePassing } : {}),
      ...(c.failuresBeforeWarning !== undefined ? { FailuresBeforeWarning: c.failuresBeforeWarning } : {}),
      ...(c.failuresBeforeCritical !== undefined ? { FailuresBeforeCritical: c.failuresBeforeCritical } : {}),
      ...(c.status !== undefined ? { Status: c.status } : {}),
      ...(c.notes !== undefined ? { Notes: c.notes } : {}),
    }));
    await this.request('PUT', '/v1/agent/service/register', {
      ID: i.id,
      Name: i.service,
      Address: i.address,
      Port: i.port,
      Tags: i.tags,
      Meta: i.meta,
      ...(checks.length ? { Checks: checks } : {}),
    });
  }

  async deregister(instanceId: string): Promise<void> {
    await this.request('PUT', `/v1/agent/service/deregister/${encodeURIComponent(instanceId)}`);
  }

  async pass(checkId: string, note = ''): Promise<void> {
    await this.request('PUT', `/v1/agent/check/pass/${encodeURIComponent(checkId)}?note=${encodeURIComponent(note)}`);
  }
  async warn(checkId: string, note = ''): Promise<void> {
    await this.request('PUT', `/v1/agent/check/warn/${encodeURIComponent(checkId)}?note=${encodeURIComponent(note)}`);
  }
  async fail(checkId: string, note = ''): Promise<void> {
    await this.request('PUT', `/v1/agent/check/fail/${encodeURIComponent(checkId)}?note=${encodeURIComponent(note)}`);
  }

  async healthy(service: string): Promise<InstanceHealth[]> {
    return (await this.health(service, true)).list;
  }

  async instances(service: string): Promise<InstanceHealth[]> {
    return (await this.health(service, false)).list;
  }

  async services(): Promise<Record<string, string[]>> {
    return (await this.request('GET', '/v1/catalog/services')).body as Record<string, string[]>;
  }

  watch(service: string, onChange: (healthy: InstanceHealth[]) => void): Disposable {
    const ac = new AbortController();
    this.watchers.add(ac);
    void (async () => {
      let index = 0;
      let last = '';
      let backoff = 100;
      while (!ac.signal.aborted) {
        try {
          const { list, index: next } = await this.health(service, true, index, ac.signal);
          backoff = 100;
          // Consul: an index that goes backwards means the agent restarted; start over.
          index = next < index ? 0 : next;
          const sig = JSON.stringify(list.map((h) => [h.instance.id, h.instance.address, h.instance.port]));
          if (sig !== last) {
            last = sig;
            onChange(list);
          }
        } catch {
          if (ac.signal.aborted) return;
          await new Promise((r) => setTimeout(r, backoff));
          backoff = Math.min(5000, backoff * 2);
          index = 0;
        }
      }
    })();
    return {
      dispose: () => {
        ac.abort();
        this.watchers.delete(ac);
      },
    };
  }

  async close(): Promise<void> {
    for (const ac of this.watchers) ac.abort();
    this.watchers.clear();
  }

  private async health(service: string, passing: boolean, index?: number, signal?: AbortSignal): Promise<{ list: InstanceHealth[]; index: number }> {
    const q = new URLSearchParams();
    if (passing) q.set('passing', '1');
    if (index !== undefined && index > 0) {
      q.set('index', String(index));
      q.set('wait', formatDuration(this.watchWaitMs));
    }
    const { body, index: next } = await this.request('GET', `/v1/health/service/${encodeURIComponent(service)}?${q}`, undefined, signal, index ? this.watchWaitMs : 0);
    const list = (body as ConsulHealthEntry[]).map((e) => {
      const checks: CheckState[] = e.Checks.filter((c) => c.ServiceID === e.Service.ID).map((c) => ({
        id: c.CheckID,
        name: c.Name,
        instanceId: c.ServiceID,
        service: c.ServiceName,
        type: (c.Type === 'http' || c.Type === 'tcp' ? c.Type : 'ttl') as CheckState['type'],
        status: c.Status,
        output: c.Output,
        notes: c.Notes,
      }));
      const allChecks = e.Checks.map((c) => ({ status: c.Status }));
      return {
        instance: { id: e.Service.ID, service: e.Service.Service, address: e.Service.Address, port: e.Service.Port, tags: e.Service.Tags ?? [], meta: e.Service.Meta ?? {} },
        checks,
        status: worstStatus(allChecks),
      };
    });
    return { list, index: next };
  }

  private async request(method: string, path: string, json?: unknown, signal?: AbortSignal, extraMs = 0): Promise<{ body: unknown; index: number }> {
    // undici's request, not fetch: a heartbeat every few hundred ms from every instance adds up.
    const timeout = Math.round(this.timeoutMs + extraMs * 1.1);
    const res = await undici().request(this.url + path, {
      method: method as Dispatcher.HttpMethod,
      headers: { ...(this.token ? { 'x-consul-token': this.token } : {}), ...(json !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      headersTimeout: timeout,
      bodyTimeout: timeout,
      ...(signal ? { signal } : {}),
    });
    const text = await res.body.text();
    if (res.statusCode === 404) throw new RegistryNotFoundError(`${method} ${path}: ${text}`);
    if (res.statusCode === 400) throw new RegistryValidationError('request', `${method} ${path}: ${text}`);
    if (res.statusCode < 200 || res.statusCode >= 300) throw new SteadfastError(ErrorCode.REMOTE_ERROR, `HttpRegistry: ${method} ${path}: HTTP ${res.statusCode} ${text}`, { retryable: res.statusCode >= 500 });
    return { body: text ? JSON.parse(text) : undefined, index: Number(res.headers['x-consul-index'] ?? 0) };
  }
}
