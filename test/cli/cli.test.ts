import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { describe, expect, it } from 'vitest';

function steadfast(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}


/** Starts `steadfast <args>` (which prints `{"url": …}` first) and resolves with the child and its URL. */
async function serve(...args: string[]): Promise<{ child: ReturnType<typeof spawn>; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}`)));
  });
  return { child, url: (JSON.parse(line) as { url: string }).url };
}

describe('steadfast CLI', () => {
  it('prints help listing its commands and exits 0', () => {
    const r = steadfast('--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Usage: steadfast/);
    expect(r.out).toMatch(/demo/);
    expect(r.out).toMatch(/bench/);
  });

  it('has --help on every command', () => {
    const r = steadfast('demo', '--help');
    expect(r.code).toBe(0);
    for (const flag of ['--duration', '--rate', '--seed', '--json']) expect(r.out).toContain(flag);
  });

  it('exits 2 on a bad flag value, naming the flag and the accepted range', () => {
    const r = steadfast('demo', '--duration', 'soon');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--duration <seconds>' argument 'soon' is invalid\. must be a number from 1 to 86400/);
  });

  it('--find-capacity: exits 2 on rates that do not increase, naming the accepted form', () => {
    const r = steadfast('demo', '--find-capacity', '--rates', '500,250');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--rates <list>' argument '500,250' is invalid\. must be increasing rates from 1 to 50000 req\/s, comma separated/);
  });

  it('exits 2 on an unknown command or option', () => {
    expect(steadfast('explode').code).toBe(2);
    const r = steadfast('demo', '--durration', '5');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown option '--durration'/);
  });
});

describe('steadfast registry', () => {
  it('serves the Consul API on the port it prints, and stops on SIGTERM', async () => {
    const { child, url } = await serve('registry', '--port', '0', '--json');
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${url}/v1/agent/service/register`, { method: 'PUT', body: JSON.stringify({ Name: 'cli', Port: 1 }) });
      expect(res.status).toBe(200);
      expect(Object.keys((await (await fetch(`${url}/v1/agent/services`)).json()) as object)).toEqual(['cli']);
    } finally {
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });

  it('stops on SIGTERM while a discovery client holds a blocking query and asks again as soon as it is answered', async () => {
    const { child, url } = await serve('registry', '--port', '0', '--json');
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await fetch(`${url}/v1/agent/service/register`, { method: 'PUT', body: JSON.stringify({ Name: 'web', Port: 1 }) });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let answered = 0;
    const watcher = (async () => {
      let index = 1;
      for (;;) {
        const ok = await new Promise<boolean>((resolve) => {
          const req = http.get(`${url}/v1/health/service/web?index=${index}&wait=5m`, { agent }, (res) => {
            index = Number(res.headers['x-consul-index'] ?? index);
            res.resume();
            res.on('end', () => resolve(res.statusCode === 200));
          });
          req.on('error', () => resolve(false));
        });
        if (!ok) return;
        answered++;
      }
    })();
    // The first query (index 1) is answered at once; the watcher then blocks on the next one.
    while (answered < 1 || !/^steadfast_registry_blocking_queries 1$/m.test(await (await fetch(`${url}/metrics`)).text())) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await watcher;
    agent.destroy();
  });

  it('exits 2 on a bad port, naming the flag', () => {
    const r = steadfast('registry', '--port', '99999');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--port <port>' argument '99999' is invalid/);
  });
});

describe('steadfast gateway', () => {
  it('proxies to the upstreams given with --route', async () => {
    const http = await import('node:http');
    const upstream = http.createServer((_q, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('from upstream'));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as { port: number }).port;
    const { child, url } = await serve('gateway', '--port', '0', '--json', '--route', `/=http://127.0.0.1:${port}`);
    try {
      expect(await (await fetch(`${url}/anything`)).text()).toBe('from upstream');
    } finally {
      child.kill('SIGTERM');
      upstream.close();
    }
  });

  it('exits 2 on a malformed route, naming the flag', () => {
    const r = steadfast('gateway', '--route', 'api=somewhere');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--route <path=targets>' argument 'api=somewhere' is invalid/);
  });
});

describe('steadfast toxiproxy', () => {
  it('serves the Toxiproxy API on the port it prints', async () => {
    const { child, url } = await serve('toxiproxy', '--port', '0', '--json');
    try {
      expect(await (await fetch(`${url}/version`)).text()).toMatch(/^2\./);
      expect(await (await fetch(`${url}/proxies`)).json()).toEqual({});
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe('steadfast chaos', () => {
  it('runs an experiment against a command, and writes JSON and HTML reports', async () => {
    const { freePort } = await import('../support/servers.js');
    const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-chaos-cli-'));
    const port = await freePort();
    try {
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', 'src/cli/index.ts', 'chaos', '--target', `${process.execPath} --import tsx test/balance/fixtures/backend.ts svc ${port}`, '--url', `http://127.0.0.1:${port}/`,
          '--duration', '4', '--rate', '25', '--mtbf', '1500', '--fixed', '--restart-delay', '200', '--json', path.join(dir, 'r.json'), '--html', path.join(dir, 'r.html'), '-q'],
        { encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/MTTR/);
      const report = JSON.parse(readFileSync(path.join(dir, 'r.json'), 'utf8')) as { requests: number; incidents: { kind: string; failedRequests: number }[]; mttrMs: number | null };
      expect(report.requests).toBe(100);
      expect(report.incidents.length).toBeGreaterThanOrEqual(1);
      expect(report.incidents.every((i) => i.kind === 'kill')).toBe(true);
      const html = readFileSync(path.join(dir, 'r.html'), 'utf8');
      expect(html).toMatch(/<svg/);
      expect(html).toMatch(/<table>/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('exits 2 when a command target has no --url, or faults do not fit the target', () => {
    expect(steadfast('chaos', '--target', 'node server.js').code).toBe(2);
    const r = steadfast('chaos', '--target', 'http://127.0.0.1:1/', '--faults', 'kill');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--faults kill cannot be used with a URL target/);
    expect(steadfast('chaos', '--target', 'x', '--faults', 'meteor').code).toBe(2);
  });
});

describe('steadfast report', () => {
  it('renders a saved report for the terminal, as Prometheus text and as HTML; a bad file exits 2 naming it', async () => {
    const { AvailabilityTracker } = await import('../../src/metrics/availability.js');
    const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-report-'));
    try {
      const t = new AvailabilityTracker();
      t.start(0);
      for (let i = 0; i < 100; i++) t.recordRequest(i !== 50, 5, i * 10);
      const id = t.recordFault('web-1', 'kill', 495);
      t.recordDetection(id, 700);
      t.recordRestore(id, 1200);
      const file = path.join(dir, 'r.json');
      // as `steadfast demo --json` writes it: the report inside, with the write history
      writeFileSync(file, JSON.stringify({ report: t.report(1000), lostWrites: 0, history: { acknowledged: 30, unknown: 1 } }));
      const text = steadfast('report', file);
      expect(text.code).toBe(0);
      expect(text.out).toMatch(/100 requests, 1 failed · 1 faults/);
      expect(text.out).toMatch(/writes\s+30 acknowledged, 0 lost, 1 unknown/);
      const prom = steadfast('report', file, '--prometheus');
      expect(prom.out).toMatch(/^steadfast_request_availability_ratio 0\.99$/m);
      const html = path.join(dir, 'r.html');
      expect(steadfast('report', file, '--html', html).code).toBe(0);
      expect(readFileSync(html, 'utf8')).toContain('<svg');
      const missing = steadfast('report', path.join(dir, 'nope.json'));
      expect(missing.code).toBe(2);
      expect(missing.err).toMatch(/nope\.json: no such file/);
      writeFileSync(path.join(dir, 'other.json'), '{"a":1}');
      expect(steadfast('report', path.join(dir, 'other.json')).err).toMatch(/not a steadfast report/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
