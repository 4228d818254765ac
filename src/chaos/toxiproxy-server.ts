import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { listen, readBody } from '../core/http.js';
import { checkInteger, checkOptions, checkString } from '../core/options.js';
import { FaultProxy, type Toxic, type ToxicType } from './fault-proxy.js';

export interface ToxiproxyServerOptions {
  /** Default 8474 (Toxiproxy's); 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

/** The version this API answers with: Toxiproxy's 2.x API. */
export const TOXIPROXY_API_VERSION = '2.12.0';

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

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

  constructor(options?: ToxiproxyServerOptions) {
    const o = checkOptions<ToxiproxyServerOptions>('ToxiproxyServer', options, ['port', 'host']);
    this.requestedPort = checkInteger('ToxiproxyServer', 'port', o.port ?? 8474, { min: 0, max: 65535 });
    this.host = checkString('ToxiproxyServer', 'host', o.host ?? '127.0.0.1');
    this.server = http.createServer((req, res) => void this.handle(req, res));
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
  async createProxy(body: { name: string; listen?: string; upstream: string; enabled?: boolean }): Promise<FaultProxy> {
    if (body === null || typeof body !== 'object') throw new ApiError(400, 'proxy: the body must be a JSON object');
    const name = body.name;
    if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(name)) throw new ApiError(400, 'proxy: name must be 1–128 letters, digits, ".", "_" or "-"');
    if (this.proxies.has(name)) throw new ApiError(409, `proxy: ${name} already exists`);
    let proxy: FaultProxy;
    try {
      proxy = new FaultProxy({ name, upstream: body.upstream, listen: body.listen ?? '127.0.0.1:0', enabled: body.enabled ?? true });
    } catch (err) {
      throw new ApiError(400, (err as Error).message);
    }
    try {
      await proxy.start();
    } catch (err) {
      throw new ApiError(409, `proxy: cannot listen on ${body.listen}: ${(err as Error).message}`);
    }
    this.proxies.set(name, proxy);
    return proxy;
  }

  private json(p: FaultProxy): unknown {
    return { name: p.name, listen: p.listen, upstream: p.upstream, enabled: p.enabled, toxics: p.toxics };
  }

  private proxy(name: string): FaultProxy {
    const p = this.proxies.get(name);
    if (!p) throw new ApiError(404, `proxy not found: ${name}`);
    return p;
  }

  private async body(req: http.IncomingMessage): Promise<unknown> {
    const raw = (await readBody(req, 1024 * 1024)).toString('utf8');
    if (raw.trim() === '') return {};
    try {
      return JSON.parse(raw);
    } catch (err) {
      throw new ApiError(400, `bad request body: ${(err as Error).message}`);
    }
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://toxiproxy');
      const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      const method = req.method ?? 'GET';
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
        const list = await this.body(req);
        if (!Array.isArray(list)) throw new ApiError(400, 'populate: the body must be an array of proxies');
        const out = [];
        for (const item of list as { name: string; listen?: string; upstream: string; enabled?: boolean }[]) {
          const existing = this.proxies.get(item?.name);
          if (existing) {
            await existing.stop();
            this.proxies.delete(item.name);
          }
          out.push(this.json(await this.createProxy(item)));
        }
        return send(201, { proxies: out });
      }
      if (parts[0] !== 'proxies') throw new ApiError(404, `not found: ${url.pathname}`);
      if (parts.length === 1) {
        if (method === 'GET') return send(200, Object.fromEntries([...this.proxies].map(([k, p]) => [k, this.json(p)])));
        if (method === 'POST') return send(201, this.json(await this.createProxy((await this.body(req)) as never)));
        throw new ApiError(405, `${method} not allowed on /proxies`);
      }
      const proxy = this.proxy(parts[1]!);
      if (parts.length === 2) {
        if (method === 'GET') return send(200, this.json(proxy));
        if (method === 'POST' || method === 'PATCH') {
          const b = (await this.body(req)) as { enabled?: unknown; listen?: unknown; upstream?: unknown };
          try {
            if (b.listen !== undefined || b.upstream !== undefined) await proxy.update({ ...(typeof b.listen === 'string' ? { listen: b.listen } : {}), ...(typeof b.upstream === 'string' ? { upstream: b.upstream } : {}) });
          } catch (err) {
            throw new ApiError(400, (err as Error).message);
          }
          if (typeof b.enabled === 'boolean') await proxy.setEnabled(b.enabled);
          return send(200, this.json(proxy));
        }
        if (method === 'DELETE') {
          await proxy.stop();
          this.proxies.delete(proxy.name);
          return send(204);
        }
        throw new ApiError(405, `${method} not allowed on /proxies/${proxy.name}`);
      }
      if (parts[2] !== 'toxics') throw new ApiError(404, `not found: ${url.pathname}`);
      if (parts.length === 3) {
        if (method === 'GET') return send(200, proxy.toxics);
        if (method === 'POST') {
          try {
            return send(200, proxy.addToxic((await this.body(req)) as Partial<Toxic> & { type: ToxicType }));
          } catch (err) {
            if (err instanceof ApiError) throw err;
            throw new ApiError(/already exists/.test((err as Error).message) ? 409 : 400, (err as Error).message);
          }
        }
        throw new ApiError(405, `${method} not allowed on toxics`);
      }
      const name = parts[3]!;
      if (method === 'GET') {
        const t = proxy.toxics.find((x) => x.name === name);
        if (!t) throw new ApiError(404, `toxic not found: ${name}`);
        return send(200, t);
      }
      if (method === 'POST' || method === 'PATCH') {
        try {
          return send(200, proxy.updateToxic(name, (await this.body(req)) as Partial<Toxic>));
        } catch (err) {
          throw new ApiError(/no toxic named/.test((err as Error).message) ? 404 : 400, (err as Error).message);
        }
      }
      if (method === 'DELETE') {
        if (!proxy.removeToxic(name)) throw new ApiError(404, `toxic not found: ${name}`);
        return send(204);
      }
      throw new ApiError(405, `${method} not allowed on a toxic`);
    } catch (err) {
      const status = err instanceof ApiError ? err.status : (err as { status?: number }).status ?? 500;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: (err as Error).message, status }));
    }
  }
}
