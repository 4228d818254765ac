import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry as PromRegistry } from 'prom-client';
import { promClient } from '../core/packages.js';
import { registerSampled } from '../core/sampled-metric.js';
import { FastCounter, FastHistogram, type HistogramChild } from './fast-metrics.js';
import { ResponseWriter } from './response-writer.js';
import { boundedServer, browserRefusal, defaultMaxConnections, listen, readBody } from '../core/http.js';
import { systemClock, type Clock } from '../core/clock.js';
import { checkClock, checkFunction, checkInteger, checkOptions, checkString } from '../core/options.js';
import type { Random } from '../core/random.js';
import type { Registry } from '../registry/registry.js';
import { Balancer, BALANCER_DEFAULTS, type OutlierOptions, type Strategy } from './balancer.js';
import { DEADLINE_HEADER, deadlineOf, FailoverClient, UpstreamUnavailableError } from './failover-client.js';
import { InvalidOptionError } from '../core/errors.js';
import { AdaptiveLimitPolicy, type AdaptiveLimitOptions, type LimitExceededError } from '../policy/adaptive-limit.js';

export interface GatewayRoute {
  /** Path prefix, e.g. '/api' or '/'. The longest matching prefix wins. */
  path: string;
  /** Static upstream base URLs… */
  upstreams?: string[];
  /** …or a service name looked up in the gateway's registry. */
  service?: string;
  /** Remove the prefix before forwarding. Default false. */
  stripPrefix?: boolean;
  /** Whole request deadline. Default 10 000. */
  timeoutMs?: number;
  /** Per-attempt deadline (to response headers). Default 1000. */
  perTryTimeoutMs?: number;
  maxAttempts?: number;
  /**
   * Idempotent requests: when an upstream has not answered (headers) after this long, send the
   * request to the next upstream as well and pass on whichever answers first; the other is
   * cancelled. Each hedge takes a token from the route's retry budget (20 % of requests, plus 10
   * a second). Default: no hedges.
   */
  hedgeAfterMs?: number;
  strategy?: Strategy;
  /** consistent-hash: the request header whose value is the key. Default 'x-session-key' (setting it alone selects consistent-hash). */
  hashHeader?: string;
  outlier?: OutlierOptions;
  /** A response body that sends nothing for this long fails the attempt (retried elsewhere when nothing reached the client yet). Default 5000. */
  bodyTimeoutMs?: number;
  /** Requests that may wait in the gateway for a free upstream connection; past it, 503 at once. Default 4096. */
  maxQueued?: number;
  /** Connections to each upstream. Default 128. */
  connections?: number;
  /**
   * Sheds load: requests past an adaptive concurrency limit (`adaptiveLimit` options: Gradient2
   * by default, or AIMD) are answered 503 with Retry-After at once, before their body is read.
   * A 503/429 from an upstream, or every try timed out, counts as a drop; a 503 because no
   * upstream could be reached (a node down) does not. Default: no limit. The gateway's
   * own `/_steadfast/` and `/metrics` are never shed.
   */
  concurrencyLimit?: AdaptiveLimitOptions;
}

export interface GatewayOptions {
  routes: GatewayRoute[];
  /** Needed by routes that name a service. */
  registry?: Registry;
  /** Default 0 (any free port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Largest request body, buffered so a request can be replayed on another upstream. Default 1 MiB. */
  maxBodyBytes?: number;
  /**
   * Serves other paths under `/_steadfast/` (a dashboard, a status API). Return false to let
   * the gateway answer 404.
   */
  admin?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>;
  /** Time for deadlines, ejections and the retry budget (tests pass a ManualClock). */
  clock?: Clock;
  /** Randomness of the balancers (p2c picks). Default Math.random. */
  random?: Random;
}

export const GATEWAY_DEFAULTS = Object.freeze({
  port: 0,
  host: '127.0.0.1',
  maxBodyBytes: 1024 * 1024,
  hashHeader: 'x-session-key',
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5000,
});

// RFC 9110 §7.6.1: connection-specific headers a proxy must not forward. (The request's
// content-length and host are set again for the buffered body and the upstream.)
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
// `expect: 100-continue` is answered here (Node sends the 100 before the body is read); the
// upstream gets the whole buffered body, so it is not forwarded (undici refuses it anyway).
const REQUEST_DROP = new Set([...HOP_BY_HOP, 'host', 'content-length', 'expect']);
/** A path segment that is `.` or `..`, written plainly or percent-encoded (RFC 3986 §5.2.4). */
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;
const EMPTY = Buffer.alloc(0);
const NO_NAMES: ReadonlySet<string> = new Set();

/** The headers a Connection header names (RFC 9110 §7.6.1): hop-by-hop, never forwarded. */
function namedInConnection(connection: string | string[] | undefined): ReadonlySet<string> {
  if (connection === undefined || connection === 'keep-alive' || connection === 'close') return NO_NAMES;
  return new Set(String(connection).toLowerCase().split(',').map((t) => t.trim()).filter(Boolean));
}

interface LiveRoute {
  def: GatewayRoute;
  /** consistent-hash: the header whose value is the request's key (lower case). */
  keyHeader: string | undefined;
  balancer: Balancer;
  client: FailoverClient;
  timer: HistogramChild;
  limit: AdaptiveLimitPolicy | undefined;
  /** The path with '/' and with '?' after it, for matching without building strings per request. */
  dirPrefix: string;
  queryPrefix: string;
}

/**
 * A reverse proxy on the failover client: each route balances over healthy upstreams (from the
 * registry or a list), replays idempotent requests on the next upstream when one fails, ejects
 * upstreams that keep failing, and answers a clear 503 when none is left. Admin endpoints:
 * `/_steadfast/health` (routes, upstreams, ejections) and `/metrics` (Prometheus text).
 */
export class Gateway {
  readonly metrics: PromRegistry = new (promClient().Registry)();
  private readonly routes: LiveRoute[];
  private readonly server: http.Server;
  private readonly requestedPort: number;
  private readonly host: string;
  private readonly maxBodyBytes: number;
  private readonly admin: GatewayOptions['admin'];
  private readonly clock: Clock;
  private readonly random: Random | undefined;
  private readonly requests: FastCounter;
  private readonly attempts: FastCounter;
  private readonly retries: FastCounter;
  private readonly ejections: FastCounter;
  private readonly shed: FastCounter;
  private readonly duration: FastHistogram;
  /** Labelled children, cached: resolving labels on every request costs more than counting. */
  private readonly requestCounters = new Map<string, { value: number }>();

  constructor(options: GatewayOptions) {
    const scope = 'Gateway';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { routes } are required`);
    const o = checkOptions<GatewayOptions>(scope, options, ['routes', 'registry', 'port', 'host', 'maxBodyBytes', 'admin', 'clock', 'random']);
    if (o.clock !== undefined) checkClock(scope, o.clock);
    this.clock = o.clock ?? systemClock;
    this.random = o.random === undefined ? undefined : checkFunction<Random>(scope, 'random', o.random);
    if (o.admin !== undefined && typeof o.admin !== 'function') throw new InvalidOptionError(`${scope}: admin must be a function (req, res) => boolean`);
    this.admin = o.admin;
    if (!Array.isArray(o.routes) || o.routes.length === 0) throw new InvalidOptionError(`${scope}: routes must be a non-empty array`);
    const d = GATEWAY_DEFAULTS;
    this.requestedPort = checkInteger(scope, 'port', o.port ?? d.port, { min: 0, max: 65535 });
    this.host = checkString(scope, 'host', o.host ?? d.host);
    this.maxBodyBytes = checkInteger(scope, 'maxBodyBytes', o.maxBodyBytes ?? d.maxBodyBytes, { min: 0, max: 1024 * 1024 * 1024 });
    this.requests = new FastCounter({ name: 'steadfast_gateway_requests_total', help: 'Requests answered by the gateway', labelNames: ['route', 'code'], registers: [this.metrics] });
    this.attempts = new FastCounter({ name: 'steadfast_gateway_upstream_attempts_total', help: 'Attempts sent to upstreams, by outcome', labelNames: ['route', 'outcome'], registers: [this.metrics] });
    this.retries = new FastCounter({ name: 'steadfast_gateway_retries_total', help: 'Requests sent to another upstream after a failure', labelNames: ['route'], registers: [this.metrics] });
    this.ejections = new FastCounter({ name: 'steadfast_gateway_ejections_total', help: 'Upstreams ejected by outlier detection', labelNames: ['route'], registers: [this.metrics] });
    this.shed = new FastCounter({ name: 'steadfast_gateway_shed_total', help: 'Requests answered 503 + Retry-After by the route concurrency limit', labelNames: ['route'], registers: [this.metrics] });
    this.duration = new FastHistogram({ name: 'steadfast_gateway_request_duration_seconds', help: 'Time to answer a request', labelNames: ['route'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.metrics] });
    this.routes = o.routes
      .map((r, i) => this.buildRoute(r, i, o.registry))
      .sort((a, b) => b.def.path.length - a.def.path.length);
    this.server = boundedServer({ headersTimeoutMs: d.headersTimeoutMs, requestTimeoutMs: d.requestTimeoutMs, keepAliveTimeoutMs: d.keepAliveTimeoutMs, maxConnections: defaultMaxConnections() }, (req, res) => void this.handle(req, res));
    this.stateMetrics();
  }

  /** What the routes' balancers and limits hold now, read when scraped: upstreams usable and ejected (the breakers' state), fail-static, the limit. */
  private stateMetrics(): void {
    const perRoute = (value: (r: LiveRoute) => number | undefined) => () =>
      this.routes.flatMap((r) => {
        const v = value(r);
        return v === undefined ? [] : [{ labels: { route: r.def.path }, value: v }];
      });
    registerSampled(this.metrics, {
      name: 'steadfast_gateway_upstreams',
      help: 'Upstreams of a route by state: usable, or ejected by outlier detection',
      type: 'gauge',
      labelNames: ['route', 'state'],
      read: () =>
        this.routes.flatMap((r) => {
          const view = r.balancer.view();
          const ejected = view.filter((u) => u.ejected).length;
          return [
            { labels: { route: r.def.path, state: 'usable' }, value: view.length - ejected },
            { labels: { route: r.def.path, state: 'ejected' }, value: ejected },
          ];
        }),
    });
    registerSampled(this.metrics, { name: 'steadfast_gateway_fail_static', help: '1 while a route keeps its last healthy set because the registry calls every instance unhealthy', type: 'gauge', labelNames: ['route'], read: perRoute((r) => (r.balancer.failStatic ? 1 : 0)) });
    registerSampled(this.metrics, { name: 'steadfast_gateway_concurrency_limit', help: "A route's adaptive concurrency limit now (routes with one)", type: 'gauge', labelNames: ['route'], read: perRoute((r) => r.limit?.stats.limit) });
  }

  private buildRoute(r: GatewayRoute, i: number, registry: Registry | undefined): LiveRoute {
    const scope = `Gateway: routes[${i}]`;
    const def = checkOptions<GatewayRoute>(scope, r, [
      'path', 'upstreams', 'service', 'stripPrefix', 'timeoutMs', 'perTryTimeoutMs', 'maxAttempts', 'hedgeAfterMs', 'strategy', 'hashHeader', 'outlier', 'bodyTimeoutMs', 'maxQueued', 'connections', 'concurrencyLimit',
    ]) as GatewayRoute;
    if (def.concurrencyLimit !== undefined && (def.concurrencyLimit === null || typeof def.concurrencyLimit !== 'object')) throw new InvalidOptionError(`${scope}.concurrencyLimit must be adaptiveLimit options, e.g. {} or { algorithm: 'aimd' }`);
    const limit = def.concurrencyLimit === undefined ? undefined : new AdaptiveLimitPolicy({ ...def.concurrencyLimit, clock: this.clock });
    if (def.hedgeAfterMs !== undefined) checkInteger(scope, 'hedgeAfterMs', def.hedgeAfterMs, { min: 0, max: 600_000 });
    if (typeof def.path !== 'string' || !def.path.startsWith('/')) throw new InvalidOptionError(`${scope}.path must start with '/', got ${JSON.stringify(def.path)}`);
    if ((def.upstreams === undefined) === (def.service === undefined)) throw new InvalidOptionError(`${scope}: give either upstreams or service`);
    if (def.service !== undefined && !registry) throw new InvalidOptionError(`${scope}: service ${JSON.stringify(def.service)} needs the gateway's registry option`);
    const strategy = def.strategy ?? (def.hashHeader ? 'consistent-hash' : BALANCER_DEFAULTS.strategy);
    const balancer = new Balancer({
      ...(def.upstreams ? { instances: def.upstreams } : { registry: registry!, service: def.service! }),
      strategy,
      clock: this.clock,
      ...(this.random ? { random: this.random } : {}),
      ...(def.outlier ? { outlier: def.outlier } : {}),
    });
    const label = def.path;
    const ejections = this.ejections.child(label);
    balancer.on('eject', () => ejections.value++);
    const client = new FailoverClient({
      balancer,
      clock: this.clock,
      ...(def.timeoutMs !== undefined ? { timeoutMs: def.timeoutMs } : {}),
      ...(def.perTryTimeoutMs !== undefined ? { perTryTimeoutMs: def.perTryTimeoutMs } : {}),
      ...(def.maxAttempts !== undefined ? { maxAttempts: def.maxAttempts } : {}),
      ...(def.hedgeAfterMs !== undefined ? { hedgeAfterMs: def.hedgeAfterMs } : {}),
      ...(def.bodyTimeoutMs !== undefined ? { bodyTimeoutMs: def.bodyTimeoutMs } : {}),
      ...(def.maxQueued !== undefined ? { maxQueued: def.maxQueued } : {}),
      ...(def.connections !== undefined ? { connections: def.connections } : {}),
    });
    const byOutcome = new Map<string, { value: number }>();
    client.on('attempt', (a) => {
      let c = byOutcome.get(a.outcome);
      if (!c) byOutcome.set(a.outcome, (c = this.attempts.child(label, a.outcome)));
      c.value++;
    });
    const retries = this.retries.child(label);
    client.on('retry', () => retries.value++);
    const keyHeader = strategy === 'consistent-hash' ? (def.hashHeader ?? GATEWAY_DEFAULTS.hashHeader).toLowerCase() : undefined;
    return { def, keyHeader, balancer, client, timer: this.duration.child(label), limit, dirPrefix: def.path.endsWith('/') ? def.path : `${def.path}/`, queryPrefix: `${def.path}?` };
  }

  /** The gateway's HTTP server — for a lifecycle to drain at shutdown (`lifecycle({ server: gateway.httpServer })`). */
  get httpServer(): http.Server {
    return this.server;
  }

  get port(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? this.requestedPort;
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  async listen(): Promise<this> {
    await Promise.all(this.routes.map((r) => Promise.race([r.balancer.whenReady(), new Promise((res) => this.clock.setTimeout(() => res(undefined), 2000))])));
    await listen(this.server, this.requestedPort, this.host);
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const r of this.routes) {
      r.balancer.close();
      await r.client.close();
    }
  }

  /** Routes with their upstreams and passive-health state (what /_steadfast/health shows). */
  health(): { status: 'passing' | 'critical'; routes: { path: string; upstreams: ReturnType<Balancer['view']>; failStatic: boolean }[] } {
    const routes = this.routes.map((r) => ({ path: r.def.path, upstreams: r.balancer.view(), failStatic: r.balancer.failStatic }));
    const status = routes.every((r) => r.upstreams.some((u) => !u.ejected)) ? 'passing' : 'critical';
    return { status, routes };
  }

  /** Per route: requests, attempts, retries (and those refused by the budget), marked retries, failures — attempts / requests is the gateway's retry amplification — and requests shed by the route's concurrency limit, and that limit now (null without one). */
  routeStats(): ({ path: string; shed: number; limit: number | null } & FailoverClient['stats'])[] {
    return this.routes.map((r) => ({ path: r.def.path, shed: this.shed.child(r.def.path).value, limit: r.limit?.stats.limit ?? null, ...r.client.stats }));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    if (url.startsWith('/_steadfast/') || url === '/metrics') {
      // Admin pages are this machine's: not for pages of other origins, nor for rebound names.
      const refusal = browserRefusal(req);
      if (refusal !== undefined) {
        res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`steadfast gateway: ${refusal}\n`);
        return;
      }
    }
    if (url === '/_steadfast/health' || url.startsWith('/_steadfast/health?')) {
      const h = this.health();
      res.writeHead(h.status === 'passing' ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(h));
      return;
    }
    if (url.startsWith('/_steadfast/')) {
      try {
        if (this.admin && (await this.admin(req, res))) return;
      } catch (err) {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`steadfast gateway: admin handler failed: ${(err as Error)?.message ?? String(err)}\n`);
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`no admin page at ${url}\n`);
      return;
    }
    if (url === '/metrics') {
      res.writeHead(200, { 'content-type': this.metrics.contentType });
      res.end(await this.metrics.metrics());
      return;
    }
    const route = this.routes.find((r) => url === r.def.path || url.startsWith(r.dirPrefix) || url.startsWith(r.queryPrefix));
    const label = route?.def.path ?? 'none';
    const t0 = performance.now();
    const timer = route?.timer ?? this.duration.child(label);
    const end = (): void => timer.observe((performance.now() - t0) / 1000);
    const reply = (code: number, message: string): void => {
      if (!res.headersSent) {
        res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'x-steadfast-gateway': 'error' });
        res.end(message + '\n');
      } else res.destroy();
      this.countRequest(label, code);
      end();
    };
    if (!route) return reply(404, `no route for ${url}`);
    let release: ((outcome?: { dropped?: boolean }) => void) | undefined;
    if (route.limit) {
      try {
        release = route.limit.acquire();
      } catch (err) {
        // Shed at once, before the body is read: the cheapest answer there is.
        req.resume();
        const seconds = Math.max(1, Math.ceil((err as LimitExceededError).retryAfterMs / 1000));
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': String(seconds), 'x-steadfast-gateway': 'shed' });
        res.end(`steadfast gateway: ${(err as Error).message}\n`);
        this.shed.child(label).value++;
        this.countRequest(label, 503);
        end();
        return;
      }
    }
    let overload = false;
    try {
      overload = (await this.forward(req, res, route, url, reply, end)).overload;
    } finally {
      release?.({ dropped: overload });
    }
  }

  /**
   * Forwards one request on its route; returns the status the client got (0 if it went away) and
   * whether the upstreams said they were overloaded — a 503/429 from one, a shed try, every try
   * timed out: a drop for the route's limit. A 503 because no upstream could be reached (a node
   * down) or a request that arrived past its deadline is not one.
   */
  private async forward(req: http.IncomingMessage, res: http.ServerResponse, route: LiveRoute, url: string, reply: (code: number, message: string) => void, end: () => void): Promise<{ status: number; overload: boolean }> {
    const label = route.def.path;
    const fail = (code: number, message: string, overload = false): { status: number; overload: boolean } => (reply(code, message), { status: code, overload });
    // `..` would climb out of the routed base path on the upstream (`/api/../internal`).
    const q = url.indexOf('?');
    if (DOT_SEGMENT.test(q < 0 ? url : url.slice(0, q))) return fail(400, `steadfast gateway: the path ${JSON.stringify(q < 0 ? url : url.slice(0, q))} has a '.' or '..' segment; send the normalized path`);
    // A caller that said how long it will wait: past that, the work is wasted — drop it now.
    const remaining = deadlineOf(req.headers);
    if (remaining === 0) return fail(504, `steadfast gateway: the request's deadline (${DEADLINE_HEADER}: 0) had passed when it arrived; not forwarded`);
    let body: Buffer;
    try {
      body = req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined ? EMPTY : await readBody(req, this.maxBodyBytes);
    } catch (err) {
      return fail(413, (err as Error).message);
    }
    // Hop-by-hop: the fixed list, plus every header the Connection header names.
    const named = namedInConnection(req.headers.connection);
    const headers: Record<string, string | string[]> = {};
    const inHeaders = req.headers;
    for (const k in inHeaders) {
      const v = inHeaders[k];
      if (v !== undefined && !REQUEST_DROP.has(k) && !named.has(k)) headers[k] = v;
    }
    const remote = req.socket.remoteAddress ?? '';
    headers['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${req.headers['x-forwarded-for']}, ${remote}` : remote;
    headers['x-forwarded-proto'] = 'http';
    if (req.headers.host) headers['x-forwarded-host'] = req.headers.host;
    const path = route.def.stripPrefix ? url.slice(route.def.path.length).replace(/^(?!\/)/, '/') : url;
    const keyHeader = route.keyHeader;
    const keyValue = keyHeader ? req.headers[keyHeader] : undefined;
    try {
      const up = await route.client.proxy(
        {
          path,
          method: req.method ?? 'GET',
          headers,
          ...(body.length > 0 ? { body } : {}),
          ...(typeof keyValue === 'string' ? { key: keyValue } : {}),
          ...(remaining !== undefined ? { deadlineMs: remaining } : {}),
        },
        (statusCode, upstreamHeaders, endpoint) => {
          const out: Record<string, string | string[]> = {};
          const namedUp = namedInConnection(upstreamHeaders.connection);
          for (const k in upstreamHeaders) {
            const v = upstreamHeaders[k];
            if (v !== undefined && !HOP_BY_HOP.has(k) && !namedUp.has(k)) out[k] = v;
          }
          out['x-steadfast-upstream'] = endpoint.id;
          return new ResponseWriter(res, statusCode, out);
        },
      );
      this.countRequest(label, up.statusCode);
      end();
      return { status: up.statusCode, overload: up.statusCode === 503 || up.statusCode === 429 };
    } catch (err) {
      if (res.destroyed && res.headersSent) {
        end(); // the client went away mid-response
        return { status: 0, overload: false };
      }
      if (err instanceof UpstreamUnavailableError) {
        const last = err.attempts[err.attempts.length - 1];
        if (last?.outcome === 'invalid') return fail(400, `steadfast gateway: the request cannot be forwarded: ${last.error ?? ''}`);
        if (last?.outcome === 'overloaded') return fail(503, `steadfast gateway: overloaded: ${last.error ?? ''}`, true);
        const timedOut = err.attempts.length > 0 && err.attempts.every((a) => a.outcome === 'timeout');
        return fail(timedOut ? 504 : 503, `steadfast gateway: ${err.message}`, timedOut);
      }
      return fail(502, `steadfast gateway: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  private countRequest(route: string, code: number): void {
    const key = `${route} ${code}`;
    let c = this.requestCounters.get(key);
    if (!c) this.requestCounters.set(key, (c = this.requests.child(route, String(code))));
    c.value++;
  }
}
