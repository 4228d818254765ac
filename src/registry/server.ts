import type http from 'node:http';
import type { Registry as PromRegistry } from 'prom-client';
import { promClient } from '../core/packages.js';
import { nodeCrypto } from '../core/builtins.js';
import type { AddressInfo } from 'node:net';
import { boundedServer, browserRefusal, defaultMaxConnections, listen, readBody } from '../core/http.js';
import { checkBoolean, checkFunction, checkInteger, checkOptions, checkString, checkStringList } from '../core/options.js';
import type { Random } from '../core/random.js';
import { ErrorCode, httpError, httpStatusOf, InvalidOptionError, RequestError, SteadfastError } from '../core/errors.js';
import { parseDuration } from './duration.js';
import type { EmbeddedRegistry } from './embedded.js';
import { RegistryNotFoundError, RegistryValidationError } from './errors.js';
import {
  canonicalKeys,
  catalogToConsul,
  DATACENTER,
  checkRegistrationFromConsul,
  checkToConsul,
  healthToConsul,
  instanceFromConsul,
  memberToConsul,
  NODE_ADDRESS,
  NODE_NAME,
  nodeToConsul,
  selfToConsul,
  serfHealth,
  serviceToConsul,
} from './consul-format.js';
import { compileFilter, type FilterShape } from './filter.js';
import { registryMetrics } from './server-metrics.js';
import { kvRoutes, RawResponse, type Route } from './routes.js';
import type { CheckState, InstanceHealth } from './registry.js';

export interface RegistryServerOptions {
  registry: EmbeddedRegistry;
  /** The blocking-query jitter's randomness. Default Math.random. */
  random?: Random;
  /** Default 8500 (Consul's); 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1: nothing beyond this machine unless you say so. */
  host?: string;
  /** Required on every write (X-Consul-Token, Authorization: Bearer, or ?token=), compared in constant time. */
  aclToken?: string;
  /** When a token is set, require it on reads too. Default true. */
  aclForReads?: boolean;
  /** Largest request body. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Longest blocking-query wait (?wait=). Default 600 000 (Consul's 10 min). */
  maxWaitMs?: number;
  /** Time a client has to send a whole request, headers and body. Default 10 000. */
  requestTimeoutMs?: number;
  /** Idle time of a keep-alive connection. Default 5000. */
  keepAliveTimeoutMs?: number;
  /** Connections at once. Default ¾ of the process's open-file limit, at most 4096. */
  maxConnections?: number;
  /** HTTP and TCP check intervals below this are raised to it, as Consul does. Default 1000. */
  minCheckIntervalMs?: number;
  /** A check's DeregisterCriticalServiceAfter below this is raised to it, as Consul does (its minimum is 1 minute). Default 60 000. */
  minDeregisterCriticalAfterMs?: number;
  /** Host names answered besides IP literals and localhost (DNS rebinding protection); '*' for any. */
  allowedHosts?: string[];
  /** Origins whose browser pages may write (cross-site request forgery protection). Default none. */
  allowedOrigins?: string[];
  /**
   * A prom-client Registry to serve at `GET /metrics` and `GET /v1/agent/metrics?format=prometheus`
   * (Consul's path); the server adds its own figures to it (services, checks by status, KV,
   * sessions, blocking queries, requests). Default: one of its own with only those figures.
   */
  metrics?: PromRegistry;
}

export const REGISTRY_SERVER_DEFAULTS = Object.freeze({
  port: 8500,
  host: '127.0.0.1',
  aclForReads: true,
  maxBodyBytes: 1024 * 1024,
  maxWaitMs: 600_000,
  defaultWaitMs: 300_000,
  requestTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5000,
  minCheckIntervalMs: 1000,
  minDeregisterCriticalAfterMs: 60_000,
  /** How long close() lets answered requests finish before it closes every connection. */
  closeGraceMs: 1000,
});



/** What `?filter=` selectors may name on each endpoint: an item shaped like its answers. */
const shapes = ((): Record<'service' | 'check' | 'catalog' | 'health' | 'node', FilterShape> => {
  const check: CheckState = { id: 'c', name: 'c', instanceId: 'i', service: 's', type: 'ttl', status: 'passing', output: '', notes: '' };
  const h: InstanceHealth = { instance: { id: 'i', service: 's', address: '', port: 0, tags: [], meta: {}, checks: [] }, checks: [check], status: 'passing' };
  return {
    service: { template: serviceToConsul(h.instance, { createIndex: 0, modifyIndex: 0 }), maps: ['Meta'] },
    check: { template: checkToConsul(check), maps: ['Definition'] },
    catalog: { template: catalogToConsul(h, { createIndex: 0, modifyIndex: 0 }), maps: ['ServiceMeta', 'NodeMeta', 'TaggedAddresses'] },
    health: { template: healthToConsul(h, { createIndex: 0, modifyIndex: 0 }), maps: ['Service.Meta', 'Node.Meta', 'Node.TaggedAddresses'] },
    node: { template: nodeToConsul(), maps: ['Meta', 'TaggedAddresses'] },
  };
})();

const digest = (s: string): Buffer => nodeCrypto().createHash('sha256').update(s).digest();

/**
 * A Consul-compatible HTTP API over an EmbeddedRegistry, so the tools and clients people use
 * with Consul work against it: agent service registration and TTL checks, the catalog, the
 * health endpoint with `?passing` and blocking queries (`?index=&wait=`, `X-Consul-Index`),
 * status, and KV with sessions for locks. Requests are size-limited and validated: malformed
 * JSON, an unknown check type or a bad duration get a 400 that names the field.
 */
export class RegistryServer {
  private readonly random: Random;
  readonly registry: EmbeddedRegistry;
  private readonly host: string;
  private readonly requestedPort: number;
  private readonly tokenDigest: Buffer | undefined;
  private readonly aclForReads: boolean;
  private readonly maxBodyBytes: number;
  private readonly maxWaitMs: number;
  private readonly server: http.Server;
  private readonly routes: Route[];
  private readonly pending = new Set<AbortController>();
  private readonly minCheckIntervalMs: number;
  private readonly minDeregisterCriticalAfterMs: number;
  private closing = false;
  private metricsRegistry: PromRegistry | undefined;
  private readonly requestCounts = new Map<string, number>();
  private readonly guard: { allowedHosts: string[]; allowedOrigins: string[] };

  constructor(options: RegistryServerOptions) {
    const scope = 'RegistryServer';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { registry } are required`);
    const o = checkOptions<RegistryServerOptions>(scope, options, [
      'registry', 'port', 'host', 'aclToken', 'aclForReads', 'maxBodyBytes', 'maxWaitMs',
      'requestTimeoutMs', 'keepAliveTimeoutMs', 'maxConnections', 'minCheckIntervalMs', 'minDeregisterCriticalAfterMs', 'allowedHosts', 'allowedOrigins', 'random', 'metrics',
    ]);
    this.random = o.random === undefined ? Math.random : checkFunction<Random>(scope, 'random', o.random);
    if (!o.registry || typeof (o.registry as EmbeddedRegistry).waitForChange !== 'function') throw new InvalidOptionError(`${scope}: registry must be an EmbeddedRegistry`);
    this.registry = o.registry;
    const d = REGISTRY_SERVER_DEFAULTS;
    this.requestedPort = checkInteger(scope, 'port', o.port ?? d.port, { min: 0, max: 65535 });
    this.host = checkString(scope, 'host', o.host ?? d.host);
    this.tokenDigest = o.aclToken === undefined ? undefined : digest(checkString(scope, 'aclToken', o.aclToken));
    this.aclForReads = checkBoolean(scope, 'aclForReads', o.aclForReads ?? d.aclForReads);
    this.maxBodyBytes = checkInteger(scope, 'maxBodyBytes', o.maxBodyBytes ?? d.maxBodyBytes, { min: 1024, max: 64 * 1024 * 1024 });
    this.maxWaitMs = checkInteger(scope, 'maxWaitMs', o.maxWaitMs ?? d.maxWaitMs, { min: 0 });
    this.minCheckIntervalMs = checkInteger(scope, 'minCheckIntervalMs', o.minCheckIntervalMs ?? d.minCheckIntervalMs, { min: 1, max: 3_600_000 });
    this.minDeregisterCriticalAfterMs = checkInteger(scope, 'minDeregisterCriticalAfterMs', o.minDeregisterCriticalAfterMs ?? d.minDeregisterCriticalAfterMs, { min: 1, max: 86_400_000 });
    this.guard = { allowedHosts: checkStringList(scope, 'allowedHosts', o.allowedHosts).map((h) => h.toLowerCase()), allowedOrigins: checkStringList(scope, 'allowedOrigins', o.allowedOrigins) };
    this.routes = this.buildRoutes().map((route) => ({ ...route, counted: `${route.method} ${route.pattern.source.replace(/^\^|\$$/g, '').replace(/\\\//g, '/').replace(/\(\.[*+]\)/g, ':arg')}` }));
    if (o.metrics !== undefined) {
      if (typeof (o.metrics as PromRegistry).registerMetric !== 'function') throw new InvalidOptionError(`${scope}: metrics must be a prom-client Registry`);
      this.metricsRegistry = registryMetrics(o.metrics, this.registry, () => this.pending.size, this.requestCounts);
    }
    const requestTimeoutMs = checkInteger(scope, 'requestTimeoutMs', o.requestTimeoutMs ?? d.requestTimeoutMs, { min: 100, max: 600_000 });
    // A blocking query's wait is not part of requestTimeoutMs: that bounds only receiving the
    // request; the wait is bounded by maxWaitMs. A client that sends headers and then no body
    // is cut off after requestTimeoutMs, and never holds a descriptor for the wait's length.
    this.server = boundedServer(
      {
        headersTimeoutMs: Math.min(10_000, requestTimeoutMs),
        requestTimeoutMs,
        keepAliveTimeoutMs: checkInteger(scope, 'keepAliveTimeoutMs', o.keepAliveTimeoutMs ?? d.keepAliveTimeoutMs, { min: 100, max: 600_000 }),
        maxConnections: checkInteger(scope, 'maxConnections', o.maxConnections ?? defaultMaxConnections(), { min: 1, max: 1_000_000 }),
      },
      (req, res) => void this.handle(req, res),
    );
  }

  get port(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? this.requestedPort;
  }

  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  async listen(): Promise<this> {
    await listen(this.server, this.requestedPort, this.host);
    return this;
  }

  /**
   * Stops serving: blocking queries are answered at once, every answer from now on closes its
   * connection, a request that arrives on a kept-alive connection is refused (503), and what is
   * still open after closeGraceMs is closed — a client that keeps asking cannot hold it open.
   */
  async close(): Promise<void> {
    this.closing = true;
    for (const ac of this.pending) ac.abort();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const grace = setTimeout(() => this.server.closeAllConnections(), REGISTRY_SERVER_DEFAULTS.closeGraceMs);
    grace.unref();
    await closed;
    clearTimeout(grace);
  }

  private authorized(req: http.IncomingMessage, url: URL): boolean {
    if (this.tokenDigest === undefined) return true;
    const auth = req.headers.authorization;
    const token = (req.headers['x-consul-token'] as string | undefined) ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : undefined) ?? url.searchParams.get('token') ?? '';
    return nodeCrypto().timingSafeEqual(digest(token), this.tokenDigest);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let indexHeaders = false;
    try {
      if (this.closing) {
        res.setHeader('connection', 'close');
        throw new RequestError(ErrorCode.CLOSED, 'the registry is shutting down');
      }
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://registry');
      } catch {
        throw httpError(400, 'invalid request URL');
      }
      const path = url.pathname;
      const matching = this.routes.filter((r) => r.pattern.test(path));
      if (matching.length === 0) throw httpError(404, `no such endpoint: ${path}`);
      // Consul's own methods only (no POST for PUT): a browser can send a POST to any address
      // without asking, but a PUT from another origin needs a preflight this server never grants.
      const route = matching.find((r) => r.method === req.method);
      if (route) this.requestCounts.set(route.counted!, (this.requestCounts.get(route.counted!) ?? 0) + 1);
      if (!route) throw httpError(405, `method ${req.method} not allowed on ${path} (use ${[...new Set(matching.map((r) => r.method))].join(' or ')})`);
      // A GET that changes state (the pre-1.0 forms some clients still send) gets the same
      // cross-site checks as a PUT.
      const refusal = browserRefusal(req, this.guard, route.write || (req.method !== 'GET' && req.method !== 'HEAD'));
      if (refusal !== undefined) throw httpError(403, refusal);
      if ((route.write || this.aclForReads) && !this.authorized(req, url)) throw httpError(403, 'Permission denied: a valid ACL token is required (X-Consul-Token header)');
      let params: string[];
      try {
        params = route.pattern.exec(path)!.slice(1).map((p) => decodeURIComponent(p));
      } catch {
        throw httpError(400, 'invalid percent-encoding in the path');
      }
      const filterText = url.searchParams.get('filter');
      if (filterText !== null && !route.filter) throw httpError(400, `filter: not supported on ${path}`);
      const filter = filterText === null ? undefined : compileFilter(filterText, route.filter);
      indexHeaders = req.method === 'GET';
      if (route.blocking && url.searchParams.has('index')) {
        // Only a blocking query needs to hear that its client went away (or that we are closing).
        const ac = new AbortController();
        this.pending.add(ac);
        res.on('close', () => {
          ac.abort();
          this.pending.delete(ac);
        });
        await this.block(url, ac.signal);
      }
      const before = this.registry.index;
      let result = await route.handler(req, url, params, () => this.readBody(req));
      if (filter) result = Array.isArray(result) ? result.filter(filter) : Object.fromEntries(Object.entries(result as object).filter(([, v]) => filter(v)));
      // A write that changed something is answered once it is durable (with a data folder): the
      // checkpoint that holds it is saved. One that changed nothing (a heartbeat of a passing
      // check, a failed CAS) does not wait for other writes' saves.
      if (route.write && this.registry.index !== before) await this.registry.sync();
      if (res.destroyed) return;
      this.setIndexHeaders(res);
      if (this.closing) res.setHeader('connection', 'close');
      if (result instanceof RawResponse) {
        res.writeHead(result.status, { 'content-type': result.contentType });
        res.end(result.body);
        return;
      }
      if (result === undefined) {
        // Registration and check updates answer 200 with an empty body, as Consul's do.
        res.writeHead(200, { 'content-length': '0' });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(result));
    } catch (err) {
      if (res.destroyed || res.headersSent) return;
      // A read's 404 (a missing KV key) carries the index too: clients block on it next.
      if (indexHeaders) this.setIndexHeaders(res);
      if (this.closing) res.setHeader('connection', 'close');
      const status = httpStatusOf(err);
      const known = err instanceof SteadfastError || status !== 500;
      const message = known ? (err as Error).message : `internal error: ${(err as Error)?.message ?? String(err)}`;
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...(status === 413 ? { connection: 'close' } : {}) });
      res.end(message);
    }
  }

  private metrics(): PromRegistry {
    return (this.metricsRegistry ??= registryMetrics(new (promClient().Registry)(), this.registry, () => this.pending.size, this.requestCounts));
  }

  private setIndexHeaders(res: http.ServerResponse): void {
    res.setHeader('X-Consul-Index', String(this.registry.index));
    res.setHeader('X-Consul-KnownLeader', 'true');
    res.setHeader('X-Consul-LastContact', '0');
  }

  /**
   * Consul raises check intervals and DeregisterCriticalServiceAfter below its minimums to them:
   * a registration cannot make the registry probe a target hundreds of times a second, or drop
   * a service that missed one heartbeat.
   */
  private withMinimums<T extends { intervalMs?: number; deregisterCriticalAfterMs?: number }>(check: T): T {
    if (check.intervalMs !== undefined && check.intervalMs < this.minCheckIntervalMs) check.intervalMs = this.minCheckIntervalMs;
    if (check.deregisterCriticalAfterMs !== undefined && check.deregisterCriticalAfterMs < this.minDeregisterCriticalAfterMs) check.deregisterCriticalAfterMs = this.minDeregisterCriticalAfterMs;
    return check;
  }

  private withMinInterval<T extends { checks?: { intervalMs?: number; deregisterCriticalAfterMs?: number }[] }>(instance: T): T {
    for (const c of instance.checks ?? []) this.withMinimums(c);
    return instance;
  }

  private async block(url: URL, signal: AbortSignal): Promise<void> {
    const indexText = url.searchParams.get('index');
    if (indexText === null) return;
    const index = Number(indexText);
    if (!Number.isInteger(index) || index < 0) throw httpError(400, `index: must be a non-negative integer, got ${JSON.stringify(indexText)}`);
    const waitText = url.searchParams.get('wait');
    let wait: number = REGISTRY_SERVER_DEFAULTS.defaultWaitMs;
    if (waitText !== null) {
      const ms = parseDuration(waitText);
      if (ms === undefined) throw httpError(400, `wait: invalid duration ${JSON.stringify(waitText)} (use "10s", "500ms")`);
      wait = ms;
    }
    // Consul adds up to wait/16 of jitter so that many watchers do not return at once.
    wait = Math.min(this.maxWaitMs, wait + this.random() * (wait / 16));
    await this.registry.waitForChange(index, wait, signal);
  }

  private readBody(req: http.IncomingMessage): Promise<Buffer> {
    return readBody(req, this.maxBodyBytes);
  }

  private buildRoutes(): Route[] {
    const r = this.registry;
    const json = async (body: () => Promise<Buffer>): Promise<unknown> => {
      const raw = (await body()).toString('utf8');
      if (raw.trim() === '') return undefined;
      try {
        return JSON.parse(raw);
      } catch (err) {
        throw httpError(400, `Request decode failed: ${(err as Error).message}`);
      }
    };
    const wantsPassing = (url: URL): boolean => url.searchParams.has('passing') && url.searchParams.get('passing') !== 'false';
    const note = (url: URL): string => (url.searchParams.get('note') ?? '').slice(0, 4096);
    const withTags = (u: URL, list: InstanceHealth[]): InstanceHealth[] => {
      // ?tag= may be given more than once: an instance must have every one (as in Consul).
      const tags = u.searchParams.getAll('tag');
      return tags.length === 0 ? list : list.filter((h) => tags.every((t) => (h.instance.tags ?? []).includes(t)));
    };
    const legacyGet = (route: Omit<Route, 'method'>): Route[] => [
      { ...route, method: 'PUT' },
      { ...route, method: 'GET' },
    ];

    return [
      { method: 'PUT', pattern: /^\/v1\/agent\/service\/register$/, write: true, handler: async (_q, _u, _p, body) => void (await r.register(this.withMinInterval(instanceFromConsul(await json(body))))) },
      // Deregistration and TTL updates also take GET, the form Consul answered before 1.0 and
      // python-consul 0.7.1 (Debian's python3-consul) still sends; such a GET is a write (token,
      // cross-site checks) like the PUT.
      ...legacyGet({ pattern: /^\/v1\/agent\/service\/deregister\/(.+)$/, write: true, handler: async (_q, _u, [id]) => void (await r.deregister(id!)) }),
      ...(['pass', 'warn', 'fail'] as const).flatMap((verb) =>
        legacyGet({ pattern: new RegExp(`^/v1/agent/check/${verb}/(.+)$`), write: true, handler: async (_q, u, [id]) => void (await r[verb](id!, note(u))) }),
      ),
      {
        method: 'PUT',
        pattern: /^\/v1\/agent\/check\/register$/,
        write: true,
        handler: async (_q, _u, _p, body) => {
          const { instanceId, check } = checkRegistrationFromConsul(await json(body));
          await r.registerCheck(instanceId, this.withMinimums(check));
        },
      },
      ...legacyGet({ pattern: /^\/v1\/agent\/check\/deregister\/(.+)$/, write: true, handler: async (_q, _u, [id]) => void (await r.deregisterCheck(id!)) }),
      {
        method: 'PUT',
        pattern: /^\/v1\/agent\/check\/update\/(.+)$/,
        write: true,
        handler: async (_q, _u, [id], body) => {
          const raw = await json(body);
          const b = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (canonicalKeys(raw as Record<string, unknown>, ['Status', 'Output']) as { Status?: unknown; Output?: unknown }) : undefined;
          const status = b?.Status;
          const output = typeof b?.Output === 'string' ? b.Output.slice(0, 4096) : '';
          if (status === 'passing') await r.pass(id!, output);
          else if (status === 'warning') await r.warn(id!, output);
          else if (status === 'critical') await r.fail(id!, output);
          else throw new RegistryValidationError('Status', 'Status must be passing, warning or critical');
        },
      },
      { method: 'GET', pattern: /^\/v1\/agent\/self$/, write: false, handler: async () => selfToConsul() },
      {
        method: 'GET',
        pattern: /^\/v1\/agent\/metrics$/,
        write: false,
        handler: async (_q, u) => {
          if (u.searchParams.get('format') !== 'prometheus') throw httpError(400, 'format: this server gives its metrics in Prometheus text only; ask with ?format=prometheus');
          const m = this.metrics();
          return new RawResponse(200, m.contentType, Buffer.from(await m.metrics()));
        },
      },
      {
        method: 'GET',
        pattern: /^\/metrics$/,
        write: false,
        handler: async () => {
          const m = this.metrics();
          return new RawResponse(200, m.contentType, Buffer.from(await m.metrics()));
        },
      },
      { method: 'GET', pattern: /^\/v1\/agent\/members$/, write: false, handler: async () => [memberToConsul()] },
      {
        method: 'GET',
        pattern: /^\/v1\/agent\/services$/,
        write: false,
        filter: shapes.service,
        handler: async () => Object.fromEntries(r.allInstances().map((h) => [h.instance.id, serviceToConsul(h.instance, r.modifyIndexOf(h.instance.id))])),
      },
      {
        method: 'GET',
        pattern: /^\/v1\/agent\/service\/(.+)$/,
        write: false,
        handler: async (_q, _u, [id]) => {
          const h = r.allInstances().find((x) => x.instance.id === id);
          if (!h) throw new RegistryNotFoundError(`unknown service ID ${JSON.stringify(id)}`);
          return serviceToConsul(h.instance, r.modifyIndexOf(id!));
        },
      },
      { method: 'GET', pattern: /^\/v1\/agent\/checks$/, write: false, filter: shapes.check, handler: async () => Object.fromEntries(r.allChecks().map((c) => [c.id, checkToConsul(c)])) },
      { method: 'GET', pattern: /^\/v1\/catalog\/services$/, write: false, blocking: true, handler: async () => r.services() },
      { method: 'GET', pattern: /^\/v1\/catalog\/datacenters$/, write: false, handler: async () => [DATACENTER] },
      { method: 'GET', pattern: /^\/v1\/catalog\/nodes$/, write: false, blocking: true, filter: shapes.node, handler: async () => [nodeToConsul(r.index)] },
      {
        method: 'GET',
        pattern: /^\/v1\/catalog\/node\/(.+)$/,
        write: false,
        blocking: true,
        handler: async (_q, _u, [node]) => {
          if (node !== NODE_NAME) return null;
          return { Node: nodeToConsul(r.index), Services: Object.fromEntries(r.allInstances().map((h) => [h.instance.id, serviceToConsul(h.instance, r.modifyIndexOf(h.instance.id))])) };
        },
      },
      {
        method: 'GET',
        pattern: /^\/v1\/catalog\/service\/(.+)$/,
        write: false,
        blocking: true,
        filter: shapes.catalog,
        handler: async (_q, u, [name]) => withTags(u, await r.instances(name!)).map((h) => catalogToConsul(h, r.modifyIndexOf(h.instance.id))),
      },
      {
        method: 'GET',
        pattern: /^\/v1\/health\/service\/(.+)$/,
        write: false,
        blocking: true,
        filter: shapes.health,
        handler: async (_q, u, [name]) => withTags(u, wantsPassing(u) ? await r.healthy(name!) : await r.instances(name!)).map((h) => healthToConsul(h, r.modifyIndexOf(h.instance.id))),
      },
      {
        method: 'GET',
        pattern: /^\/v1\/health\/checks\/(.+)$/,
        write: false,
        blocking: true,
        filter: shapes.check,
        handler: async (_q, _u, [name]) => r.allChecks().filter((c) => c.service === name).map(checkToConsul),
      },
      {
        method: 'GET',
        pattern: /^\/v1\/health\/state\/(.+)$/,
        write: false,
        blocking: true,
        filter: shapes.check,
        handler: async (_q, _u, [state]) => {
          if (!['any', 'passing', 'warning', 'critical'].includes(state!)) throw httpError(400, `state: must be any, passing, warning or critical, got ${JSON.stringify(state)}`);
          return [serfHealth(), ...r.allChecks().map(checkToConsul)].filter((c) => state === 'any' || c.Status === state);
        },
      },
      {
        method: 'GET',
        pattern: /^\/v1\/health\/node\/(.+)$/,
        write: false,
        blocking: true,
        filter: shapes.check,
        handler: async (_q, _u, [node]) => (node === NODE_NAME ? [serfHealth(), ...r.allChecks().map(checkToConsul)] : []),
      },
      { method: 'GET', pattern: /^\/v1\/status\/leader$/, write: false, handler: async () => `${NODE_ADDRESS}:8300` },
      { method: 'GET', pattern: /^\/v1\/status\/peers$/, write: false, handler: async () => [`${NODE_ADDRESS}:8300`] },
      ...kvRoutes(r, json),
    ];
  }
}
