// The server bench:overload drives: each request spends ~0.3 ms of CPU, then waits for one of
// POOL downstream connections (a database that holds each query 10 ms) — so its capacity is
// POOL / 10 ms, and past it a queue forms in the process. argv: port, mode (bare | adaptive |
// bulkhead), pool.
import http from 'node:http';
import { adaptiveLimit } from '../dist/index.js';

const [port, mode, poolArg] = process.argv.slice(2);
const POOL = Number(poolArg);
const QUERY_MS = 10;
let free = POOL;
const waiting = [];
const query = () =>
  new Promise((resolve) => {
    const run = () => setTimeout(() => {
      const next = waiting.shift();
      if (next) next();
      else free++;
      resolve();
    }, QUERY_MS);
    if (free > 0) {
      free--;
      run();
    } else waiting.push(run);
  });
const spin = (ms) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};
// ADAPTIVE_OPTIONS (JSON) lets the bench try other settings than the defaults.
const limit = mode === 'adaptive' ? adaptiveLimit(JSON.parse(process.env.ADAPTIVE_OPTIONS || '{}')) : undefined;
let inflight = 0;
const shed = (res, retryAfterMs) => {
  res.writeHead(503, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))), 'content-length': 4 });
  res.end('shed');
};
http
  .createServer(async (req, res) => {
    let release;
    if (limit) {
      try {
        release = limit.acquire();
      } catch (err) {
        return shed(res, err.retryAfterMs);
      }
    } else if (mode === 'bulkhead') {
      if (inflight >= 2 * POOL) return shed(res, 1000); // a fixed limit, sized at twice the pool
      inflight++;
    }
    spin(0.3);
    await query();
    res.writeHead(200, { 'content-length': 2 });
    res.end('ok');
    release?.();
    if (mode === 'bulkhead') inflight--;
  })
  .listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
if (process.env.TRACE_LIMIT && limit) setInterval(() => process.stderr.write(`limit ${limit.stats.limit.toFixed(1)} inflight ${limit.stats.inflight} base ${limit.algorithm.inner?.baselineRttMs?.toFixed(1)}\n`), Number(process.env.TRACE_LIMIT)).unref();
