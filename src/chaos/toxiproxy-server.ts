import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { boundedServer, browserRefusal, defaultMaxConnections, listen, readBody, type BrowserGuardOptions } from '../core/http.js';
import { httpError, httpStatusOf, RequestError } from '../core/errors.js';
import { checkInteger, checkOptions, checkString, checkStringList } from '../core/options.js';
import { FaultProxy, type Toxic, type ToxicType } from './fault-proxy.js';

export interface ToxiproxyServerOptions {
  /** Default 8474 (Toxiproxy's); 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Host names answered besides IP literals and localhost (DNS rebinding protection); '*' for any. */
  allowedHosts?: string[];
  /** Origins whose browser pages may change proxies (cross-site request forgery protection). Default none. */
  allowedOrigins?: string[];
}

interface ProxyBody {
  name: string;
  listen?: string;
  upstream: string;
  enabled?: boolean;
}

const LOCAL_HOST_RE = /^(127\.\d+\.\d+\.\d+|localhost|0\.0\.0\.0|::1?|)$/i;

/** The port of a host:port whose host is this machine, or undefined. */
function localPort(hostPort: string): number | undefined {
  const i = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, i).replace(/^\[|\]$/g, '');
  return LOCAL_HOST_RE.test(host) ? Number(hostPort.slice(i + 1)) : undefined;
}

export const TOXIPROXY_SERVER_DEFAULTS = Object.freeze({ port: 8474, host: '127.0.0.1', headersTimeoutMs: 10_000, requestTimeoutMs: 10_000, keepAliveTimeoutMs: 5000 });

/** The version this API answers with: Toxiproxy's 2.x API. */
export const TOXIPROXY_API_VERSION = '2.12.0';


/**
 * Toxiproxy's HTTP control API over FaultProxies, so existing Toxiproxy clients (such as the npm
 * toxiproxy-node-client) can drive steadfast without the Go binary: /proxies, /proxies/:name,
 * /proxies/:name/toxics[/:toxic], /populate, /reset, /version.
 */
export class ToxiproxyServer {
  readonly proxies = new Map<string, FaultProxy>();
  private readonly server: http.Server;
  private readonly requestedPort: number;
  private readonly host: string;
  private readonly guard: BrowserGuardOptions;

  constructor(options?: ToxiproxyServerOptions) {
    const scope = 'ToxiproxyServer';
    const o = checkOptions<ToxiproxyServerOptions>(scope, options, ['port', 'host', 'allowedHosts', 'allowedOrigins']);
    this.requestedPort = checkInteger(scope, 'port', o.port ?? TOXIPROXY_SERVER_DEFAULTS.port, { min: 0, max: 65535 });
    this.host = checkString(scope, 'host', o.host ?? TOXIPROXY_SERVER_DEFAULTS.host);
    this.guard = { allowedHosts: checkStringList(scope, 'allowedHosts', o.allowedHosts).map((h) => h.toLowerCase()), allowedOrigins: checkStringList(scope, 'allowedOrigins', o.allowedOrigins) };
    this.server = boundedServer({ headersTimeoutMs: TOXIPROXY_SERVER_DEFAULTS.headersTimeoutMs, requestTimeoutMs: TOXIPROXY_SERVER_DEFAULTS.requestTimeoutMs, keepAliveTimeoutMs: TOXIPROXY_SERVER_DEFAULTS.keepAliveTimeoutMs, maxConnections: defaultMaxConnections() }, (req, res) => void this.handle(req, res));
  }

  get url(): string {
    return `http://${this.host}:${(this.server.address() as AddressInfo | null)?.port ?? this.requestedPort}`;
  }

  async listen(): Promise<this> {
    await listen(this.server, this.requestedPort, this.host);
    return this;
  }

  async close(): Promise<void> {
    for (const p of this.proxies.values()) await p.stop();
    this.proxies.clear();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Creates and starts a proxy. */
  async createProxy(body: ProxyBody): Promise<FaultProxy> {
    const proxy = this.newProxy(body);
    if (this.proxies.has(proxy.name)) throw httpError(409, `proxy: ${proxy.name} already exists`);
    await this.startProxy(proxy);
    this.proxies.set(proxy.name, proxy);
    return proxy;
  }

  /** Validates a proxy's definition (400 naming the field) without starting it. */
  private newProxy(body: ProxyBody): FaultProxy {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw httpError(400, 'proxy: the body must be a JSON object { name, listen, upstream }');
    const name = body.name;
    if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(name)) throw httpError(400, 'proxy: name must be 1–128 letters, digits, ".", "_" or "-"');
    if (body.enabled !== undefined && typeof body.enabled !== 'boolean') throw httpError(400, 'proxy: enabled must be true or false');
    try {
      return new FaultProxy({ name, upstream: body.upstream, listen: body.listen ?? '127.0.0.1:0', enabled: body.enabled ?? true });
    } catch (err) {
      throw httpError(400, (err as Error).message);
    }
  }

  /** Starts a proxy, refusing one whose traffic would come back to itself (directly or through other proxies). */
  private async startProxy(proxy: FaultProxy, others: Iterable<FaultProxy> = this.proxies.values()): Promise<void> {
    try {
      await proxy.start();
    } catch (err) {
      throw httpError(409, `proxy: cannot listen on ${proxy.listen}: ${(err as Error).message}`);
    }
    const loop = this.loopOf(proxy, others);
    if (loop !== undefined) {
      await proxy.stop();
      throw httpError(400, `proxy: upstream ${proxy.upstream} leads back to the proxy itself (${loop}); every connection would multiply until the process runs out of descriptors`);
    }
  }

  /** The chain of names by which `proxy`'s upstream reaches `proxy` again, if it does. */
  private loopOf(proxy: FaultProxy, others: Iterable<FaultProxy>): string | undefined {
    const byPort = new Map<number, FaultProxy>();
    for (const p of [...others, proxy]) if (p.port > 0) byPort.set(p.port, p);
    const chain = [proxy.name];
    let at: FaultProxy | undefined = proxy;
    for (let hops = 0; at && hops <= byPort.size; hops++) {
      const port = localPort(at.upstream);
      const next = port === undefined ? undefined : byPort.get(port);
      if (next === undefined) return undefined;
      chain.push(next.name);
      if (next === proxy) return chain.join(' → ');
      at = next;
    }
    return undefined;
  }

  /**
   * Toxiproxy's /populate, all or nothing: every definition is checked first; proxies whose
   * definition is unchanged are kept as they are (with their toxics); the others are replaced,
   * and if any new one fails to start, every change is undone and the old proxies run again.
   */
  private async populate(list: unknown): Promise<FaultProxy[]> {
    if (!Array.isArray(list)) throw httpError(400, 'populate: the body must be an array of proxies');
    if (list.length > 1000) throw httpError(400, 'populate: at most 1000 proxies at once');
    const fresh = list.map((item, i) => {
      try {
        return this.newProxy(item as ProxyBody);
      } catch (err) {
        throw httpError(400, `populate: [${i}]: ${(err as Error).message}`);
      }
    });
    const names = new Set<string>();
    for (const p of fresh) {
      if (names.has(p.name)) throw httpError(400, `populate: proxy ${p.name} is listed twice`);
      names.add(p.name);
    }
    const same = (a: FaultProxy, b: FaultProxy): boolean => a.upstream === b.upstream && a.enabled === b.enabled && (b.listen.endsWith(':0') || a.listen === b.listen);
    const out: FaultProxy[] = [];
    const replaced: FaultProxy[] = [];
    const started: FaultProxy[] = [];
    try {
      for (const p of fresh) {
        const old = this.proxies.get(p.name);
        if (old && same(old, p)) {
          out.push(old);
          continue;
        }
        if (old) {
          await old.stop();
          this.proxies.delete(old.name);
          replaced.push(old);
        }
        await this.startProxy(p);
        this.proxies.set(p.name, p);
        started.push(p);
        out.push(p);
      }
    } catch (err) {
      for (const p of started) {
        await p.stop();
        this.proxies.delete(p.name);
      }
      for (const old of replaced) {
        await old.start().catch(() => {}); // its address was ours a moment ago
        this.proxies.set(old.name, old);
      }
      throw err;
    }
    return out;
  }

  private json(p: FaultProxy): unknown {
    return { name: p.name, listen: p.listen, upstream: p.upstream, enabled: p.enabled, toxics: p.toxics };
  }

  private proxy(name: string): FaultProxy {
    const p = this.proxies.get(name);
    if (!p) throw httpError(404, `proxy not found: ${name}`);
    return p;
  }

  /** The JSON body, which must be an object (or, for /populate, an array). */
  private async body(req: http.IncomingMessage, shape: 'object' | 'array' = 'object'): Promise<Record<string, unknown>> {
    const raw = (await readBody(req, 1024 * 1024)).toString('utf8');
    if (raw.trim() === '') return shape === 'array' ? ([] as never) : {};
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (err) {
      throw httpError(400, `bad request body: ${(err as Error).message}`);
    }
    if (shape === 'array' ? !Array.isArray(v) : v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw httpError(400, `bad request body: expected a JSON ${shape === 'array' ? 'array' : 'object'}, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
    }
    return v as Record<string, unknown>;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://toxiproxy');
      const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      const method = req.method ?? 'GET';
      const refusal = browserRefusal(req, this.guard);
      if (refusal !== undefined) throw httpError(403, refusal);
      const send = (status: number, body?: unknown): void => {
        if (body === undefined) {
          res.writeHead(status);
          res.end();
        } else {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body));
        }
      };
      if (parts[0] === 'version' && method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(TOXIPROXY_API_VERSION);
        return;
      }
      if (parts[0] === 'reset' && method === 'POST') {
        for (const p of this.proxies.values()) {
          p.clearToxics();
          await p.setEnabled(true);
        }
        return send(204);
      }
      if (parts[0] === 'populate' && method === 'POST') {
        const proxies = await this.populate(await this.body(req, 'array'));
        return send(201, { proxies: proxies.map((p) => this.json(p)) });
      }
      if (parts[0] !== 'proxies') throw httpError(404, `not found: ${url.pathname}`);
      if (parts.length === 1) {
        if (method === 'GET') return send(200, Object.fromEntries([...this.proxies].map(([k, p]) => [k, this.json(p)])));
        if (method === 'POST') return send(201, this.json(await this.createProxy((await this.body(req)) as never)));
        throw httpError(405, `${method} not allowed on /proxies`);
      }
      const proxy = this.proxy(parts[1]!);
      if (parts.length === 2) {
        if (method === 'GET') return send(200, this.json(proxy));
        if (method === 'POST' || method === 'PATCH') {
          const b = (await this.body(req)) as { enabled?: unknown; listen?: unknown; upstream?: unknown };
          try {
            if (b.listen !== undefined || b.upstream !== undefined) {
              const before = { listen: proxy.listen, upstream: proxy.upstream };
              await proxy.update({ ...(typeof b.listen === 'string' ? { listen: b.listen } : {}), ...(typeof b.upstream === 'string' ? { upstream: b.upstream } : {}) });
              const loop = this.loopOf(proxy, [...this.proxies.values()].filter((p) => p !== proxy));
              if (loop !== undefined) {
                await proxy.update(before);
                throw httpError(400, `proxy: upstream ${String(b.upstream ?? proxy.upstream)} leads back to the proxy itself (${loop})`);
              }
            }
          } catch (err) {
            if (err instanceof RequestError) throw err;
            throw httpError(400, (err as Error).message);
          }
          if (typeof b.enabled === 'boolean') await proxy.setEnabled(b.enabled);
          return send(200, this.json(proxy));
        }
        if (method === 'DELETE') {
          await proxy.stop();
          this.proxies.delete(proxy.name);
          return send(204);
        }
        throw httpError(405, `${method} not allowed on /proxies/${proxy.name}`);
      }
      if (parts[2] !== 'toxics') throw httpError(404, `not found: ${url.pathname}`);
      if (parts.length === 3) {
        if (method === 'GET') return send(200, proxy.toxics);
        if (method === 'POST') {
          try {
            return send(200, proxy.addToxic((await this.body(req)) as Partial<Toxic> & { type: ToxicType }));
          } catch (err) {
            if (err instanceof RequestError) throw err;
            throw httpError(/already exists/.test((err as Error).message) ? 409 : 400, (err as Error).message);
          }
        }
        throw httpError(405, `${method} not allowed on toxics`);
      }
      const name = parts[3]!;
      if (method === 'GET') {
        const t = proxy.toxics.find((x) => x.name === name);
        if (!t) throw httpError(404, `toxic not found: ${name}`);
        return send(200, t);
      }
      if (method === 'POST' || method === 'PATCH') {
        try {
          return send(200, proxy.updateToxic(name, (await this.body(req)) as Partial<Toxic>));
        } catch (err) {
          throw httpError(/no toxic named/.test((err as Error).message) ? 404 : 400, (err as Error).message);
        }
      }
      if (method === 'DELETE') {
        if (!proxy.removeToxic(name)) throw httpError(404, `toxic not found: ${name}`);
        return send(204);
      }
      throw httpError(405, `${method} not allowed on a toxic`);
    } catch (err) {
      const status = httpStatusOf(err);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: (err as Error).message, status }));
    }
  }
}
