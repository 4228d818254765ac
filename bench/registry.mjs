#!/usr/bin/env node
// The embedded registry behind its Consul-compatible HTTP API: registrations/s and
// healthy-list queries/s (16 concurrent keep-alive clients), and the time from SIGKILL of a
// registered process to its leaving ?passing with a 300 ms TTL check renewed every 100 ms.
// Usage: npm run bench:registry [-- --seconds 3 --kills 10]
import { spawn } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { EmbeddedRegistry, HttpRegistry, RegistryServer } from '../dist/index.js';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};

if (args[0] === '--child') {
  // A registered instance that renews its TTL check until it is killed.
  const [, url, id] = args;
  const r = new HttpRegistry({ url });
  await r.register({ id, service: 'victim', address: '127.0.0.1', port: 1, checks: [{ id: `${id}-ttl`, ttlMs: 300 }] });
  await r.pass(`${id}-ttl`);
  process.stdout.write('ready\n');
  setInterval(() => r.pass(`${id}-ttl`).catch(() => {}), 100);
} else {
  await main();
}

async function main() {
  const seconds = Number(flag('seconds', 3));
  const kills = Number(flag('kills', 10));
  const registry = new EmbeddedRegistry();
  const server = await new RegistryServer({ registry, port: 0 }).listen();
  const base = server.url;
  const dispatcher = new Agent({ connections: 16, pipelining: 1 });
  const run = async (op) => {
    const until = performance.now() + seconds * 1000;
    let n = 0;
    const worker = async (w) => {
      for (let i = 0; performance.now() < until; i++) {
        await op(w, i);
        n++;
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
    return n / ((performance.now() - t0) / 1000);
  };
  const register = (w, i) =>
    request(`${base}/v1/agent/service/register`, {
      method: 'PUT',
      dispatcher,
      body: JSON.stringify({ Name: 'bench', ID: `bench-${w}-${i % 500}`, Address: '127.0.0.1', Port: 1000 + (i % 500), Check: { TTL: '1h', Status: 'passing' } }),
    }).then((r) => r.body.dump());
  const regRate = await run(register);
  for (let i = 0; i < 10; i++) await registry.register({ id: `web-${i}`, service: 'web', address: '127.0.0.1', port: 8000 + i });
  const query = () => request(`${base}/v1/health/service/web?passing`, { dispatcher }).then((r) => r.body.dump());
  const queryRate = await run(query);

  // SIGKILL → out of ?passing, watched with a blocking query.
  const self = fileURLToPath(import.meta.url);
  const client = new HttpRegistry({ url: server.url, watchWaitMs: 10_000 });
  const times = [];
  for (let k = 0; k < kills; k++) {
    process.stderr.write(`\rbench:registry kill ${k + 1}/${kills} …   `);
    const id = `victim-${k}`;
    const child = spawn(process.execPath, [self, '--child', server.url, id], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => child.stdout.once('data', resolve));
    await new Promise((r) => setTimeout(r, 150 + Math.random() * 200));
    let seen = false;
    let goneAt = 0;
    const sub = client.watch('victim', (healthy) => {
      if (healthy.some((h) => h.instance.id === id)) seen = true;
      else if (seen && !goneAt) goneAt = performance.now();
    });
    while (!seen) await new Promise((r) => setTimeout(r, 5));
    const killedAt = performance.now();
    child.kill('SIGKILL');
    while (!goneAt) await new Promise((r) => setTimeout(r, 5));
    sub.dispose();
    times.push(goneAt - killedAt);
    await registry.deregister(id);
  }
  process.stderr.write('\n');
  await client.close();
  await server.close();
  await registry.close();
  await dispatcher.close();
  times.sort((a, b) => a - b);
  const lines = [
    `Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; 16 concurrent keep-alive clients for ${seconds} s each; ${kills} SIGKILLs.`,
    `Command: npm run bench:registry -- --seconds ${seconds} --kills ${kills}`,
    '',
    '| measure | value |',
    '| --- | ---: |',
    `| registrations/s (PUT /v1/agent/service/register with a TTL check) | ${regRate.toFixed(0)} |`,
    `| healthy-list queries/s (GET /v1/health/service/web?passing, 10 instances) | ${queryRate.toFixed(0)} |`,
    `| SIGKILL → out of ?passing, TTL 300 ms renewed every 100 ms: median | ${times[times.length >> 1].toFixed(0)} ms |`,
    `| … worst of ${kills} | ${times[times.length - 1].toFixed(0)} ms |`,
    '',
    "For context, from their documentation (not measured here, so not a ratio): Consul's check examples use a 10 s interval; Kubernetes readiness takes ~30 s (periodSeconds 10 × failureThreshold 3).",
  ];
  console.log(lines.join('\n'));
}
