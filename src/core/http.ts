import type { IncomingMessage, Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';

/** A request body that was larger than allowed; servers answer 413. */
export class BodyTooLargeError extends Error {
  readonly status = 413;
  constructor(size: number | undefined, maxBytes: number) {
    super(size === undefined ? `request body exceeds maxBodyBytes=${maxBytes}` : `request body of ${size} bytes exceeds maxBodyBytes=${maxBytes}`);
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

/** A TCP port that was free on `host` a moment ago (for servers that must keep one port across restarts). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Sends a JSON answer. */
export function sendJson(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
