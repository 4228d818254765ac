import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { nodeHttp, nodeNet } from './builtins.js';
import { ErrorCode, SteadfastError } from './errors.js';

/** A request body that was larger than allowed; servers answer 413. */
export class BodyTooLargeError extends SteadfastError {
  constructor(size: number | undefined, maxBytes: number) {
    super(ErrorCode.BODY_TOO_LARGE, size === undefined ? `request body exceeds maxBodyBytes=${maxBytes}` : `request body of ${size} bytes exceeds maxBodyBytes=${maxBytes}`);
  }
}

/** Reads a request body of at most `maxBytes`, refusing early when Content-Length says it is larger. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) {
    req.resume();
    return Promise.reject(new BodyTooLargeError(declared, maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        reject(new BodyTooLargeError(undefined, maxBytes));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Starts `server` listening; rejects (instead of emitting 'error') when the port is taken. */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * A TCP port that was free on `host` a moment ago, for servers that must keep one port across
 * restarts. On Linux it is taken below the kernel's ephemeral range
 * (/proc/sys/net/ipv4/ip_local_port_range, 32768–60999 by default): a port from that range can be
 * handed, while its server is down for a restart, to an outgoing connection as its local port —
 * and the server's next start fails EADDRINUSE for as long as that connection lives (a demo db
 * node crash-looped so next to an etcd cluster's connections). Elsewhere: a port the kernel picks.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const low = ephemeralLow();
  if (low !== undefined && low > STABLE_PORT_FLOOR + 1000) {
    for (let k = 0; k < 50; k++) {
      const port = STABLE_PORT_FLOOR + Math.floor(Math.random() * (low - STABLE_PORT_FLOOR));
      if ((await bindOnce(port, host).catch(() => undefined)) !== undefined) return port;
    }
  }
  return bindOnce(0, host);
}

/** Where freePort's stable ports start: above the registered ports most services use. */
const STABLE_PORT_FLOOR = 10_000;

function ephemeralLow(): number | undefined {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : undefined;
  } catch {
    return undefined; // not Linux
  }
}

/** Binds `port` on `host` (0: any), closes it again, and resolves with the port it had. */
function bindOnce(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = nodeNet().createServer();
    s.unref();
    s.once('error', reject);
    s.listen(port, host, () => {
      const bound = (s.address() as AddressInfo).port;
      s.close(() => resolve(bound));
    });
  });
}

/** Sends a JSON answer. */
export function sendJson(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** What a loopback server trusts from browsers (see docs/operations.md, "Security model"). */
export interface BrowserGuardOptions {
  /**
   * Host names (without port) this server answers besides IP literals and `localhost`; '*'
   * answers any. A name an attacker controls that resolves to 127.0.0.1 (DNS rebinding) is
   * refused unless listed here.
   */
  allowedHosts?: readonly string[];
  /** Origins (`http://host:port`) whose pages may send state-changing requests. Default none. */
  allowedOrigins?: readonly string[];
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const IPV4_RE = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The host name of a Host header, without port or IPv6 brackets; undefined when malformed. */
function hostName(host: string): string | undefined {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end < 0 ? undefined : host.slice(1, end).toLowerCase();
  }
  const colon = host.lastIndexOf(':');
  return (colon < 0 ? host : host.slice(0, colon)).toLowerCase();
}

/**
 * Why a request must be refused because a browser may have sent it on behalf of a page from
 * another origin, or undefined when it may go on.
 *
 * - DNS rebinding: a page at `attacker.example` whose name later resolves to 127.0.0.1 is
 *   same-origin with this server as far as the browser knows; it still sends
 *   `Host: attacker.example`. Only IP literals (a rebinding needs a name), `localhost` and the
 *   names in `allowedHosts` are answered.
 * - Cross-site request forgery: a page may send a "simple" POST (`text/plain`, `no-cors`) to any
 *   address without a preflight. Browsers mark such requests with `Origin` and
 *   `Sec-Fetch-Site`; a state-changing request from another origin is refused. Clients that are
 *   not browsers (curl, the npm `consul` client, toxiproxy-node-client) send neither header.
 */
export function browserRefusal(req: IncomingMessage, options: BrowserGuardOptions = {}, changesState = !SAFE_METHODS.has(req.method ?? 'GET')): string | undefined {
  const host = req.headers.host;
  if (host !== undefined) {
    const name = hostName(host);
    const allowed =
      name !== undefined &&
      (name === 'localhost' || IPV4_RE.test(name) || name.includes(':') || options.allowedHosts?.includes('*') === true || options.allowedHosts?.includes(name) === true);
    if (!allowed) return `Host ${JSON.stringify(host)} is not this server's (DNS rebinding protection); add it to allowedHosts to serve it`;
  }
  if (!changesState) return undefined;
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  if (origin !== undefined) {
    const sameOrigin = host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
    if (!sameOrigin && options.allowedOrigins?.includes(origin) !== true) {
      return `a browser page from origin ${origin} may not change state here (cross-site request forgery protection); add the origin to allowedOrigins to allow it`;
    }
    return undefined;
  }
  if (site === 'cross-site' || site === 'same-site') return `a browser request marked Sec-Fetch-Site: ${site} may not change state here (cross-site request forgery protection)`;
  return undefined;
}

/** Bounds on what one client can hold of a server: every server here sets them. */
export interface ServerBounds {
  /** Time to receive the request headers. */
  headersTimeoutMs: number;
  /** Time to receive the whole request, headers and body (a body that stalls is cut off). */
  requestTimeoutMs: number;
  /** Idle time of a keep-alive connection between requests. */
  keepAliveTimeoutMs: number;
  /** Open connections at once; further ones are closed at once. */
  maxConnections: number;
}

/** Creates an http.Server whose slow or idle clients are cut off within the given bounds. */
export function boundedServer(
  bounds: ServerBounds,
  listener: (req: IncomingMessage, res: import('node:http').ServerResponse) => void,
): Server {
  // Node checks headersTimeout/requestTimeout on a sweep every connectionsCheckingInterval
  // (30 s by default): sweep often enough that a bound of a few seconds is a bound.
  const interval = Math.max(100, Math.min(1000, Math.floor(Math.min(bounds.headersTimeoutMs, bounds.requestTimeoutMs) / 4)));
  const server = nodeHttp().createServer({ connectionsCheckingInterval: interval, requestTimeout: bounds.requestTimeoutMs, headersTimeout: bounds.headersTimeoutMs }, listener);
  server.keepAliveTimeout = bounds.keepAliveTimeoutMs;
  server.maxConnections = bounds.maxConnections;
  return server;
}

/**
 * The most connections a server here accepts by default: the process's open-file limit less
 * room for everything else it opens (checks, files, its own clients), so a flood of idle
 * connections is refused at accept instead of exhausting descriptors the process needs.
 */
export function defaultMaxConnections(): number {
  let limit = 4096;
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) limit = Number(m[1]);
  } catch {
    // not Linux: keep the default
  }
  return Math.max(16, Math.min(4096, Math.floor(limit * 0.75)));
}

/** A try's cut-off (requestDeadline): its signal, ended by the timer, the outer signal or `abort`. */
export interface RequestDeadline {
  readonly signal: AbortSignal;
  /** Ends the try now with `reason` (once; later calls and the timer do nothing). */
  abort(reason: unknown): void;
  /** Whether the timer ended it. */
  timedOut(): boolean;
  /** Stops the timer and lets go of the outer signal; call it once the try is over. */
  clear(): void;
}

/**
 * A deadline for one HTTP request made with undici, on a timer of its own. undici's
 * `headersTimeout` and `bodyTimeout` run on a timer wheel of about a second (undici 7: asked for
 * 100 ms, a request to a server that never answers fails after ~1000 ms; asked for 2500 ms, after
 * up to ~3500 ms), so a deadline below a few seconds must not rely on them. Pass `signal` to the
 * request; when it fires the request rejects with an error whose code is
 * UND_ERR_HEADERS_TIMEOUT (undici's own, so callers keep one code for "no answer in time").
 * `clear()` once the answer (or the part the deadline covers) is in. An `outer` signal, aborted,
 * aborts the request too.
 */
export function requestDeadline(ms: number, outer?: AbortSignal): RequestDeadline {
  const ac = new AbortController();
  let fired = false;
  const timer = setTimeout(() => {
    fired = true;
    ac.abort(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'UND_ERR_HEADERS_TIMEOUT' }));
  }, ms);
  const onOuter = (): void => ac.abort(outer!.reason);
  if (outer) {
    if (outer.aborted) onOuter();
    else outer.addEventListener('abort', onOuter, { once: true });
  }
  return {
    signal: ac.signal,
    abort: (reason) => ac.abort(reason),
    timedOut: () => fired,
    clear: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    },
  };
}
