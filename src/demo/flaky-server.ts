import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Random } from '../core/random.js';

export type Phase = 'healthy' | 'flaky' | 'slow' | 'down';

export interface FlakyServerOptions {
  /** Share of requests answered 503 while 'flaky'. */
  errorRate: number;
  /** Delay of every answer while 'slow'. */
  slowMs: number;
  random: Random;
}

/**
 * A real HTTP dependency that misbehaves on command: 'flaky' answers some requests
 * 503, 'slow' answers late, 'down' closes its port (clients get ECONNREFUSED) and
 * drops open connections. Used by the demo as the flaky dependency of the seed.
 */
export class FlakyServer {
  private server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private phaseValue: Phase = 'healthy';
  port = 0;

  constructor(private readonly options: FlakyServerOptions) {
    this.server = this.create();
  }

  get phase(): Phase {
    return this.phaseValue;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  async start(): Promise<void> {
    await this.listen(0);
  }

  async setPhase(phase: Phase): Promise<void> {
    if (phase === this.phaseValue) return;
    const wasDown = this.phaseValue === 'down';
    this.phaseValue = phase;
    if (phase === 'down') await this.goDown();
    else if (wasDown) {
      this.server = this.create();
      await this.listen(this.port);
    }
  }

  async stop(): Promise<void> {
    this.phaseValue = 'down';
    await this.goDown();
  }

  private create(): http.Server {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 5000;
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    return server;
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private goDown(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }

  private handle(_req: http.IncomingMessage, res: http.ServerResponse): void {
    const answer = (): void => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"answer":42}');
    };
    switch (this.phaseValue) {
      case 'flaky':
        if (this.options.random() < this.options.errorRate) {
          res.writeHead(503, { 'content-type': 'text/plain' });
          res.end('overloaded');
          return;
        }
        return answer();
      case 'slow': {
        const t = setTimeout(() => {
          this.timers.delete(t);
          answer();
        }, this.options.slowMs);
        this.timers.add(t);
        return;
      }
      case 'down':
        res.destroy();
        return;
      default:
        return answer();
    }
  }
}
