import type http from 'node:http';
import type { ProxySink } from './proxy-attempt.js';

/** Responses up to this size are sent in one write (headers and body together). */
const SMALL_BODY = 64 * 1024;

/**
 * Where an upstream's body goes: small bodies are gathered and sent with their headers in one
 * write, with a content-length; past SMALL_BODY it streams, with backpressure (write returns
 * false, 'drain' resumes the upstream). A plain object, not a stream: no stream machinery per
 * response.
 */
export class ResponseWriter implements ProxySink {
  private chunks: Buffer[] = [];
  private size = 0;
  private streaming = false;

  constructor(
    private readonly res: http.ServerResponse,
    private readonly statusCode: number,
    private readonly headers: Record<string, string | string[]>,
  ) {}

  get destroyed(): boolean {
    return this.res.destroyed;
  }

  /** Whether anything has gone to the client yet (small answers are held until they end). */
  get committed(): boolean {
    return this.streaming || this.res.headersSent;
  }

  write(chunk: Buffer): boolean {
    if (this.streaming) return this.res.write(chunk);
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size <= SMALL_BODY) return true;
    this.streaming = true;
    this.res.writeHead(this.statusCode, this.headers);
    let ok = true;
    for (const c of this.chunks) ok = this.res.write(c);
    this.chunks = [];
    return ok;
  }

  end(): void {
    if (this.streaming) {
      this.res.end();
      return;
    }
    if (this.headers['content-length'] === undefined) this.headers['content-length'] = String(this.size);
    this.res.writeHead(this.statusCode, this.headers);
    this.res.end(this.chunks.length === 1 ? this.chunks[0] : this.chunks.length === 0 ? undefined : Buffer.concat(this.chunks));
  }

  once(event: 'drain', listener: () => void): this {
    this.res.once(event, listener);
    return this;
  }

  destroy(err?: Error): void {
    this.res.destroy(err);
  }

  onClose(listener: () => void): void {
    this.res.once('close', () => {
      if (!this.res.writableFinished) listener();
    });
  }
}
