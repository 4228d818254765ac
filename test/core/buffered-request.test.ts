import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferedRequest } from '../../src/core/buffered-request.js';
import { ErrorCode, SteadfastError } from '../../src/core/errors.js';

describe('bufferedRequest', () => {
  let server: http.Server;
  let origin: string;
  const agent = new Agent({ connections: 4 });
  const held: http.ServerResponse[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url!, 'http://x');
        if (url.pathname === '/echo') {
          res.writeHead(201, { 'content-type': 'application/json', 'x-seen': req.headers['x-test'] ?? '' });
          res.end(JSON.stringify({ method: req.method, query: url.search, body: Buffer.concat(chunks).toString() }));
        } else if (url.pathname === '/chunks') {
          res.writeHead(200);
          res.write('a'.repeat(1000));
          setTimeout(() => res.end('b'.repeat(1000)), 5);
        } else if (url.pathname === '/hang') {
          held.push(res);
        } else if (url.pathname === '/reset') {
          req.socket.destroy();
        } else {
          res.writeHead(404).end();
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const r of held) r.destroy();
    await agent.close();
    await new Promise((r) => server.close(r));
  });

  it('answers with the status, the headers and the whole body, and sends the method, query, headers and body', async () => {
    const r = await bufferedRequest(agent, { origin, path: '/echo?k=1', method: 'POST', headers: { 'x-test': 'yes', 'content-type': 'text/plain' }, body: 'hello' });
    expect(r.statusCode).toBe(201);
    expect(r.headers['x-seen']).toBe('yes');
    expect(JSON.parse(r.body.toString())).toEqual({ method: 'POST', query: '?k=1', body: 'hello' });
    const again = await bufferedRequest(agent, { origin, path: '/nothing', method: 'GET' });
    expect(again.statusCode).toBe(404);
    expect(again.body.length).toBe(0);
  });

  it('joins a body that came in several chunks', async () => {
    const r = await bufferedRequest(agent, { origin, path: '/chunks', method: 'GET' });
    expect(r.body.toString()).toBe('a'.repeat(1000) + 'b'.repeat(1000));
  });

  it('refuses an answer larger than maxBytes with ERR_REMOTE_ERROR naming the limit', async () => {
    const err = await bufferedRequest(agent, { origin, path: '/chunks', method: 'GET', maxBytes: 1500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SteadfastError);
    expect((err as SteadfastError).code).toBe(ErrorCode.REMOTE_ERROR);
    expect((err as Error).message).toContain('maxBytes=1500');
  });

  it('rejects with the signal\'s reason, whether aborted before the call or while it waits, and the connection is usable after', async () => {
    const before = new AbortController();
    before.abort(new Error('gone before'));
    await expect(bufferedRequest(agent, { origin, path: '/echo', method: 'GET', signal: before.signal })).rejects.toThrow('gone before');
    const during = new AbortController();
    const p = bufferedRequest(agent, { origin, path: '/hang', method: 'GET', signal: during.signal });
    await new Promise((r) => setTimeout(r, 20));
    during.abort(Object.assign(new Error('gave up'), { name: 'TimeoutError' }));
    await expect(p).rejects.toThrow('gave up');
    expect((await bufferedRequest(agent, { origin, path: '/echo', method: 'GET' })).statusCode).toBe(201);
  });

  it('passes on the connection\'s failure and undici\'s headers timeout', async () => {
    await expect(bufferedRequest(agent, { origin, path: '/reset', method: 'GET' })).rejects.toMatchObject({ code: expect.stringMatching(/ECONNRESET|UND_ERR_SOCKET/) });
    await expect(bufferedRequest(agent, { origin, path: '/hang', method: 'GET', headersTimeout: 50 })).rejects.toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT' });
  });
});
