import { spawn, type ChildProcess } from 'node:child_process';
import { systemClock } from '../core/clock.js';
import type { HistoryResult } from '../metrics/history.js';
import { DEMO_CLIENT_ENV, type ClientLoad, type DemoClientConfig, type FromClient, type ToClient } from './protocol.js';

/** What the supervisor does with the client's answers as they come (times on the supervisor's clock). */
export interface ClientHooks {
  started(at: number): void;
  answer(ok: boolean, latencyMs: number, at: number): void;
  totals(t: ClientLoad['totals']): void;
}

/**
 * The supervisor's side of the demo's load: `steadfast demo-client` in a process of its own, so
 * the load generator's CPU is not the supervisor's and the supervisor's (chaos, probes,
 * dashboard) does not delay the load. Its clock is read against this process's over IPC (the
 * best of several round trips), and every time it reports is moved onto this one's, so requests,
 * faults and incidents share one timeline.
 */
export class DemoClient {
  private readonly waiters = new Map<FromClient['type'], (m: FromClient) => void>();
  private readonly stderr: string[] = [];
  private failure: Error | undefined;
  private onFailure: ((e: Error) => void)[] = [];
  private hooks: ClientHooks | undefined;
  /** Add to a time the client reports to get the supervisor's. */
  offsetMs = 0;

  private constructor(private readonly child: ChildProcess) {
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter(Boolean)) {
        this.stderr.push(line.slice(0, 500));
        if (this.stderr.length > 5) this.stderr.shift();
      }
    });
    child.on('message', (m: FromClient) => this.onMessage(m));
    child.on('exit', (code, signal) => this.fail(new Error(`steadfast demo: the load's client exited (${signal ?? `code ${code}`})${this.stderr.length ? `; its last output:\n  ${this.stderr.join('\n  ')}` : ''}`)));
    child.on('error', (err) => this.fail(err));
  }

  /** Starts the client process (`command` + `demo-client`) and reads its clock against this one's. */
  static async start(command: string[], cfg: DemoClientConfig): Promise<DemoClient> {
    const child = spawn(command[0]!, [...command.slice(1), 'demo-client'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, [DEMO_CLIENT_ENV]: JSON.stringify(cfg) } });
    const client = new DemoClient(child);
    try {
      await client.next('hello', 30_000);
      let best = Infinity;
      for (let i = 0; i < 5; i++) {
        const t0 = systemClock.now();
        const pong = (await client.ask({ type: 'ping', t0 }, 'pong', 5000)) as Extract<FromClient, { type: 'pong' }>;
        const t2 = systemClock.now();
        if (t2 - t0 < best) {
          best = t2 - t0;
          client.offsetMs = (t0 + t2) / 2 - pong.t1;
        }
      }
    } catch (err) {
      client.kill();
      throw err;
    }
    return client;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Warms up and runs the load; resolves with what the client learned once its last answer is in. */
  async run(hooks: ClientHooks): Promise<ClientLoad> {
    this.hooks = hooks;
    const m = (await this.ask({ type: 'go' }, 'loaded', Infinity)) as Extract<FromClient, { type: 'loaded' }>;
    return { ...m.load, failures: m.load.failures.map((f) => ({ ...f, at: f.at + this.offsetMs })) };
  }

  /** The client reads every cart it wrote back through `url` and checks its acknowledged writes. */
  async readBack(url: string): Promise<HistoryResult> {
    return ((await this.ask({ type: 'readBack', url }, 'readBack', Infinity)) as Extract<FromClient, { type: 'readBack' }>).history;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  private tell(m: ToClient): void {
    if (this.child.connected) this.child.send(m);
  }

  private ask(m: ToClient, answer: FromClient['type'], timeoutMs: number): Promise<FromClient> {
    const p = this.next(answer, timeoutMs);
    this.tell(m);
    return p;
  }

  private next(type: FromClient['type'], timeoutMs: number): Promise<FromClient> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = Number.isFinite(timeoutMs) ? setTimeout(() => done(new Error(`steadfast demo: the load's client did not answer '${type}' within ${timeoutMs} ms`)), timeoutMs) : undefined;
      const done = (err: Error | undefined, m?: FromClient): void => {
        clearTimeout(timer);
        this.waiters.delete(type);
        this.onFailure = this.onFailure.filter((f) => f !== onFail);
        if (err) reject(err);
        else resolve(m!);
      };
      const onFail = (e: Error): void => done(e);
      this.onFailure.push(onFail);
      this.waiters.set(type, (m) => done(undefined, m));
    });
  }

  private onMessage(m: FromClient): void {
    const off = this.offsetMs;
    switch (m.type) {
      case 'started':
        this.hooks?.started(m.at + off);
        break;
      case 'results':
        for (let i = 0; i + 2 < m.r.length; i += 3) this.hooks?.answer(m.r[i] === 1, m.r[i + 1]!, m.r[i + 2]! + off);
        this.hooks?.totals(m.totals);
        break;
      case 'failed':
        this.fail(new Error(`steadfast demo: the load's client failed: ${m.message}`));
        break;
    }
    this.waiters.get(m.type)?.(m);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const f of [...this.onFailure]) f(this.failure);
  }
}
