import type net from 'node:net';
import { nodeNet } from '../core/builtins.js';
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js';
import { checkBoolean, checkClock, checkNumber, checkOneOf, checkOptions, checkString } from '../core/options.js';
import type { Random } from '../core/random.js';
import { InvalidOptionError, OptionRangeError } from '../core/errors.js';
import { TOXICS, type Toxic, type ToxicLink, type ToxicStream, type ToxicType } from './toxics/index.js';

export type { Toxic, ToxicStream, ToxicType } from './toxics/index.js';
/**
 * Every attribute is a time in ms, a size in bytes or a rate in KB/s. Node's timers hold at most
 * 2^31 − 1 ms (about 24.8 days) and fire at once, after 1 ms, past it: a larger value would
 * silently do the opposite of what was asked, so it is refused.
 */
const MAX_ATTRIBUTE = 2 ** 31 - 1;
const TOXIC_NAME_RE = /^[^\u0000-\u001f\u007f]{1,256}$/;

/** Validates a toxic (throws TypeError/RangeError naming the field) and fills Toxiproxy's defaults. */
export function normalizeToxic(input: Partial<Toxic> & { type: ToxicType }): Toxic {
  const scope = 'toxic';
  const type = checkOneOf(scope, 'type', input.type, Object.keys(TOXICS) as ToxicType[]);
  const stream = checkOneOf(scope, 'stream', input.stream ?? 'downstream', ['upstream', 'downstream']);
  const toxicity = checkNumber(scope, 'toxicity', input.toxicity ?? 1, { min: 0, max: 1 });
  const name = checkString(scope, 'name', input.name ?? `${type}_${stream}`);
  if (!TOXIC_NAME_RE.test(name)) throw new InvalidOptionError(`${scope}: name must be 1–256 characters with no control characters, got ${name.length} characters`);
  const attrs: Record<string, number> = { ...TOXICS[type].attributes };
  const given = input.attributes ?? {};
  if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new InvalidOptionError(`${scope}: attributes must be an object of numbers`);
  for (const [k, v] of Object.entries(given)) {
    if (!(k in attrs)) throw new InvalidOptionError(`${scope}: attributes.${k} is not an attribute of a ${type} toxic (it takes ${Object.keys(attrs).join(', ')})`);
    attrs[k] = checkNumber(scope, `attributes.${k}`, v, { min: 0, max: MAX_ATTRIBUTE });
  }
  return { name, type, stream, toxicity, attributes: attrs };
}


export interface FaultProxyOptions {
  /** Where to listen: 'host:port' (port 0 picks a free one). Default '127.0.0.1:0'. */
  listen?: string;
  /** Where to forward: 'host:port'. */
  upstream: string;
  name?: string;
  enabled?: boolean;
  /** For toxicity draws and jitter. Default Math.random. */
  random?: Random;
  /** Every delay a toxic adds (tests pass a ManualClock). */
  clock?: Clock;
}

/** One proxied connection: a client socket and its upstream socket. */
class Link implements ToxicLink {
  /** Toxics drawn for this connection (toxicity decides once per connection and toxic). */
  private readonly drawn = new Map<string, boolean>();
  private closed = false;
  private readonly timers = new Set<TimerHandle>();
  /** Per-connection state of the toxics that keep some (limit_data: bytes passed). */
  private readonly states = new Map<string, unknown>();

  constructor(
    private readonly proxy: FaultProxy,
    readonly client: net.Socket,
    readonly upstream: net.Socket,
  ) {}

  random(): number {
    return this.proxy.random();
  }

  sleep(ms: number): Promise<void> {
    return this.proxy.sleep(ms);
  }

  stateOf<S>(toxic: Toxic, init: () => S): S {
    let s = this.states.get(toxic.name) as S | undefined;
    if (s === undefined) this.states.set(toxic.name, (s = init()));
    return s;
  }

  active(t: Toxic): boolean {
    let hit = this.drawn.get(t.name);
    if (hit === undefined) {
      hit = this.proxy.random() < t.toxicity;
      this.drawn.set(t.name, hit);
      if (hit) TOXICS[t.type].arm?.(t.attributes, this); // connection-wide toxics start when first seen
    }
    return hit;
  }

  after(ms: number, fn: () => void): void {
    const timer = this.proxy.clock.setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  /** Applies the toxics active now to one chunk going `stream`; resolves once it may go on. */
  async pass(stream: ToxicStream, chunk: Buffer, write: (b: Buffer) => boolean | void): Promise<void> {
    let pieces: Buffer[] = [chunk];
    for (const t of this.proxy.toxicsFor(stream)) {
      if (this.closed || !this.active(t)) continue;
      const kind = TOXICS[t.type];
      if (!kind.chunk) continue;
      const verdict = await kind.chunk(pieces, t.attributes, this, t, write);
      if ('stop' in verdict) return;
      pieces = verdict.pieces;
    }
    const pacers = this.proxy.toxicsFor(stream).filter((t) => TOXICS[t.type].paced && this.drawn.get(t.name));
    for (const p of pieces) {
      if (this.closed) return;
      write(p);
      for (const t of pacers) await TOXICS[t.type].paced!(p, pieces.length, t.attributes, this);
    }
  }

  /** How long to hold back the end of `stream` (slow_close). */
  closeDelay(stream: ToxicStream): number {
    let delay = 0;
    for (const t of this.proxy.toxicsFor(stream)) {
      const f = TOXICS[t.type].closeDelayMs;
      if (f && this.active(t)) delay = Math.max(delay, f(t.attributes));
    }
    return delay;
  }

  /** True while a toxic such as timeout holds the connection open and silent, its end too. */
  holding(stream: ToxicStream): boolean {
    return this.proxy.toxicsFor(stream).some((t) => TOXICS[t.type].holdsClose?.(t.attributes) === true && this.active(t));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) this.proxy.clock.clearTimeout(t);
    this.client.destroy();
    this.upstream.destroy();
    this.proxy.forget(this);
  }

  reset(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) this.proxy.clock.clearTimeout(t);
    // An RST to both sides, as Toxiproxy's reset_peer does.
    this.client.resetAndDestroy();
    this.upstream.resetAndDestroy();
    this.proxy.forget(this);
  }
}

/**
 * A TCP proxy that injects faults — Toxiproxy's toxics (latency with jitter, bandwidth, timeout,
 * reset_peer, slow_close, slicer, limit_data), per direction and with a toxicity — and can be
 * disabled (the service "goes down": listening stops and live connections drop).
 */
export class FaultProxy {
  readonly name: string;
  readonly upstream: string;
  readonly random: Random;
  readonly clock: Clock;
  private listenAddress: string;
  private server: net.Server | undefined;
  private readonly links = new Set<Link>();
  private readonly toxicList: Toxic[] = [];
  private enabledFlag: boolean;
  private boundPort = 0;

  constructor(options: FaultProxyOptions) {
    const scope = 'FaultProxy';
    if (options === undefined) throw new InvalidOptionError(`${scope}: options { upstream } are required`);
    const o = checkOptions<FaultProxyOptions>(scope, options, ['listen', 'upstream', 'name', 'enabled', 'random', 'clock']);
    this.upstream = checkHostPort(scope, 'upstream', o.upstream);
    this.listenAddress = checkHostPort(scope, 'listen', o.listen ?? '127.0.0.1:0');
    this.name = checkString(scope, 'name', o.name ?? `proxy-${this.upstream}`);
    this.enabledFlag = checkBoolean(scope, 'enabled', o.enabled ?? true);
    this.random = o.random ?? Math.random;
    if (o.clock !== undefined) checkClock(scope, o.clock);
    this.clock = o.clock ?? systemClock;
  }

  /** @internal A delay on this proxy's clock. */
  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.clock.setTimeout(r, ms));
  }

  /** 'host:port' actually listened on (the free port when 0 was asked). */
  get listen(): string {
    const [host] = splitHostPort(this.listenAddress);
    return `${host}:${this.boundPort || splitHostPort(this.listenAddress)[1]}`;
  }

  get port(): number {
    return this.boundPort;
  }

  get enabled(): boolean {
    return this.enabledFlag;
  }

  get toxics(): Toxic[] {
    return this.toxicList.map((t) => ({ ...t, attributes: { ...t.attributes } }));
  }

  /** Live connections. */
  get connections(): number {
    return this.links.size;
  }

  async start(): Promise<this> {
    if (this.enabledFlag) await this.open();
    return this;
  }

  async stop(): Promise<void> {
    await this.shut();
  }

  /** Enables or disables the proxy; disabling drops live connections and stops listening. */
  async setEnabled(enabled: boolean): Promise<void> {
    if (enabled === this.enabledFlag) return;
    this.enabledFlag = enabled;
    if (enabled) await this.open();
    else await this.shut();
  }

  /** Moves the proxy to another listen address or upstream (as Toxiproxy's update does). */
  async update(changes: { listen?: string; upstream?: string }): Promise<void> {
    if (changes.upstream !== undefined) (this as { upstream: string }).upstream = checkHostPort('FaultProxy', 'upstream', changes.upstream);
    if (changes.listen !== undefined && changes.listen !== this.listen) {
      this.listenAddress = checkHostPort('FaultProxy', 'listen', changes.listen);
      if (this.enabledFlag) {
        await this.shut();
        await this.open();
      }
    }
  }

  addToxic(input: Partial<Toxic> & { type: ToxicType }): Toxic {
    const t = normalizeToxic(input);
    if (this.toxicList.some((x) => x.name === t.name)) throw new OptionRangeError(`toxic: a toxic named ${JSON.stringify(t.name)} already exists on ${this.name}`);
    this.toxicList.push(t);
    this.toxicsChanged();
    return { ...t };
  }

  updateToxic(name: string, changes: Partial<Toxic>): Toxic {
    const i = this.toxicList.findIndex((x) => x.name === name);
    if (i < 0) throw new OptionRangeError(`toxic: no toxic named ${JSON.stringify(name)} on ${this.name}`);
    const cur = this.toxicList[i]!;
    const next = normalizeToxic({ ...cur, ...changes, name, type: cur.type, attributes: { ...cur.attributes, ...(changes.attributes ?? {}) } });
    this.toxicList[i] = next;
    this.toxicsChanged();
    return { ...next };
  }

  removeToxic(name: string): boolean {
    const i = this.toxicList.findIndex((x) => x.name === name);
    if (i < 0) return false;
    this.toxicList.splice(i, 1);
    this.toxicsChanged();
    return true;
  }

  clearToxics(): void {
    this.toxicList.length = 0;
    this.toxicsChanged();
  }

  private byStream: Record<ToxicStream, Toxic[]> = { upstream: [], downstream: [] };

  /** @internal */
  toxicsFor(stream: ToxicStream): Toxic[] {
    return this.byStream[stream];
  }

  private toxicsChanged(): void {
    this.byStream = { upstream: this.toxicList.filter((t) => t.stream === 'upstream'), downstream: this.toxicList.filter((t) => t.stream === 'downstream') };
  }

  /** @internal */
  forget(link: Link): void {
    this.links.delete(link);
  }

  private async open(): Promise<void> {
    const [host, port] = splitHostPort(this.listenAddress);
    const server = nodeNet().createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.boundPort = (server.address() as net.AddressInfo).port;
    // Keep the port when re-enabled, as a service coming back on its address would.
    this.listenAddress = `${host}:${this.boundPort}`;
  }

  private async shut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const l of [...this.links]) l.close();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    const [host, port] = splitHostPort(this.upstream);
    const upstream = nodeNet().connect({ host, port });
    const link = new Link(this, client, upstream);
    this.links.add(link);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    // An error tears the link down; a clean close of one side lets the other drain first
    // (data held by a latency or bandwidth toxic must still arrive before the FIN).
    let closedSides = 0;
    const onClose = (hadError: boolean): void => {
      if (hadError || ++closedSides === 2) link.close();
    };
    client.on('error', () => link.close());
    upstream.on('error', () => link.close());
    client.on('close', onClose);
    upstream.on('close', onClose);
    for (const t of this.toxicList) link.active(t); // draw and arm connection-wide toxics now
    this.pump(link, client, upstream, 'upstream');
    this.pump(link, upstream, client, 'downstream');
  }

  /** Moves data one way, chunk by chunk, through the toxics in force. */
  private pump(link: Link, from: net.Socket, to: net.Socket, stream: ToxicStream): void {
    let chain = Promise.resolve();
    let queued = 0;
    from.on('data', (chunk: Buffer) => {
      if (this.toxicsFor(stream).length === 0 && queued === 0) {
        // No toxic: straight through, with backpressure.
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
        return;
      }
      queued++;
      if (queued > 64) from.pause();
      chain = chain.then(async () => {
        await link.pass(stream, chunk, (b) => to.write(b));
        if (--queued <= 16) from.resume();
      });
    });
    from.on('end', () => {
      chain = chain.then(async () => {
        if (link.holding(stream)) return; // a timeout toxic swallows the close too
        const delay = link.closeDelay(stream);
        if (delay > 0) await this.sleep(delay);
        to.end();
      });
    });
  }
}

function splitHostPort(value: string): [string, number] {
  const i = value.lastIndexOf(':');
  return [value.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1', Number(value.slice(i + 1))];
}

function checkHostPort(scope: string, name: string, value: unknown): string {
  if (typeof value !== 'string' || !/^(\[[^\]]+\]|[^\s:]*):\d{1,5}$/.test(value) || Number(value.slice(value.lastIndexOf(':') + 1)) > 65535) {
    throw new InvalidOptionError(`${scope}: ${name} must be host:port, got ${JSON.stringify(value)}`);
  }
  return value;
}
