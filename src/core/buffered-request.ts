import type { Dispatcher } from 'undici';
import { ErrorCode, SteadfastError } from './errors.js';

/** An answer read whole: status, headers and the body's bytes. */
export interface BufferedAnswer {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface BufferedRequestOptions {
  /** `http://host:port`, no path. */
  origin: string;
  /** Path and query, starting with `/`. */
  path: string;
  method: Dispatcher.HttpMethod;
  headers?: Record<string, string> | undefined;
  body?: string | Buffer | undefined;
  /** Aborts the request (its reason is what the promise rejects with). */
  signal?: AbortSignal | undefined;
  /** undici's wait for the response headers (ms). */
  headersTimeout?: number | undefined;
  /** undici's wait between body chunks (ms). */
  bodyTimeout?: number | undefined;
  /** Largest body read; a longer one rejects with ERR_REMOTE_ERROR. Default 16 MiB. */
  maxBytes?: number | undefined;
}

interface Controller {
  abort(reason: Error): void;
}

const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

function reasonOf(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
}

/**
 * One request on an undici dispatcher, its answer gathered into one Buffer — undici's `request()`
 * without the body stream, the promise per read and the AbortSignal it makes per call (the demo's
 * CPU per request, before and after: docs/benchmarks.md, "Fewer wake-ups, no body streams"). For
 * answers that fit in memory; stream anything else.
 */
export function bufferedRequest(dispatcher: Dispatcher, o: BufferedRequestOptions): Promise<BufferedAnswer> {
  const { signal } = o;
  if (signal?.aborted) return Promise.reject(reasonOf(signal));
  const maxBytes = o.maxBytes ?? DEFAULT_MAX_BYTES;
  return new Promise<BufferedAnswer>((resolve, reject) => {
    let controller: Controller | undefined;
    let settled = false;
    let statusCode = 0;
    let headers: Record<string, string | string[] | undefined> = {};
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (err: Error | undefined): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve({ statusCode, headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) });
    };
    const onAbort = (): void => {
      const err = reasonOf(signal!);
      controller?.abort(err);
      settle(err);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const handler = {
      onRequestStart(c: Controller): void {
        controller = c;
        if (settled) c.abort(new Error('the request was aborted before it was sent'));
      },
      onResponseStart(_c: Controller, status: number, h: Record<string, string | string[] | undefined>): void {
        statusCode = status;
        headers = h;
      },
      onResponseData(c: Controller, chunk: Buffer): void {
        if (settled) return;
        size += chunk.length;
        if (size > maxBytes) {
          const err = new SteadfastError(ErrorCode.REMOTE_ERROR, `${o.method} ${o.origin}${o.path}: answer larger than maxBytes=${maxBytes}`);
          c.abort(err);
          settle(err);
          return;
        }
        chunks.push(chunk);
      },
      onResponseEnd(): void {
        settle(undefined);
      },
      onResponseError(_c: Controller, err: Error): void {
        settle(err);
      },
    };
    try {
      dispatcher.dispatch(
        {
          origin: o.origin,
          path: o.path,
          method: o.method,
          headers: o.headers ?? null,
          body: o.body ?? null,
          ...(o.headersTimeout !== undefined ? { headersTimeout: o.headersTimeout } : {}),
          ...(o.bodyTimeout !== undefined ? { bodyTimeout: o.bodyTimeout } : {}),
        },
        handler as unknown as Dispatcher.DispatchHandler,
      );
    } catch (err) {
      settle(err instanceof Error ? err : new Error(String(err)));
    }
  });
}
