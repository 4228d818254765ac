import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSloAlerts, promRate, sloRulesYaml } from '../../src/metrics/index.js';
import { describeNeeding, findServer, PROMTOOL } from '../support/servers.js';

const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], { encoding: 'utf8', timeout: 120_000 });

describe('sloRules', () => {
  it('names what is wrong with an option', () => {
    expect(() => sloRulesYaml({ service: 'web', objective: 1 })).toThrow(/objective must be a number between 0 and 1 exclusive/);
    expect(() => sloRulesYaml({ service: '9lives', objective: 0.999 })).toThrow(/service must be 1–64 letters/);
    expect(() => sloRulesYaml({ service: 'web', objective: 0.999, selector: '{route="/api"}' })).toThrow(/selector must be PromQL label matchers without braces/);
    expect(() => sloRulesYaml({ service: 'web', objective: 0.999, metric: 'bad-name' })).toThrow(/metric must be a Prometheus metric name/);
    expect(() => sloRulesYaml({ service: 'web', objective: 0.999, errorCodes: '5("' })).toThrow(/errorCodes must be a regex/);
    expect(() => sloRulesYaml({ service: 'web', objective: 0.999, burn: 2 } as never)).toThrow(/unknown option "burn"/);
  });

  it("computes rate() as Prometheus 2 does (extrapolated to the window's edges, never below a counter's zero)", () => {
    const samples = [0, 10, 20, 30].map((v, i) => ({ t: 10_000 + i * 15_000, v }));
    // 4 samples 15 s apart inside a 60 s window ending 5 s after the last: extrapolated 5 s at the
    // end; at the start the counter's zero (first value 0) is where it began.
    expect(promRate(samples, 60_000, 60_000)).toBeCloseTo(((30 * 50) / 45) / 60, 12);
    expect(promRate(samples.slice(0, 1), 60_000, 60_000)).toBeUndefined();
  });
});

describeNeeding(PROMTOOL, 'steadfast slo, checked by promtool', () => {
  let dir: string;
  let server: http.Server;
  let url: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-slo-test-'));
    server = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes rules that promtool check rules accepts, over the gateway counter by default', () => {
    const out = path.join(dir, 'rules.yml');
    const r = cli('slo', 'rules', '--service', 'checkout', '--objective', '0.9995', '--selector', 'route="/api"', '-o', out);
    expect(r.status, r.stderr).toBe(0);
    const yaml = readFileSync(out, 'utf8');
    expect(yaml).toContain('steadfast_gateway_requests_total{route=\\"/api\\",code=~\\"5..\\"}[1h]');
    expect(yaml).toContain('"CheckoutErrorBudgetBurnPage"');
    const check = spawnSync(findServer(PROMTOOL)!, ['check', 'rules', out], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/SUCCESS: 9 rules found/);
    expect(cli('slo', 'rules', '--objective', '0.999').stderr).toMatch(/--service <name> is required/);
  });

  it('pages on a real run with outages, and Prometheus agrees at every evaluation; a short outage in a healthy hour does not page', () => {
    const report = path.join(dir, 'chaos.json');
    // A real run: open-loop load through a fault proxy that takes the service down for 2 s at a time.
    const run = cli('chaos', '--target', url, '--faults', 'down', '--duration', '8', '--rate', '50', '--mtbf', '2500', '--fixed', '--fault-ms', '2000', '--json', report, '--quiet');
    expect(run.status, run.stderr).toBe(0);
    const recorded = JSON.parse(readFileSync(report, 'utf8'));
    expect(recorded.failedRequests).toBeGreaterThan(50);

    // The run alone (no healthy past): every window holds only the run, whose errors burn far past 14.4×.
    const alone = cli('slo', 'check', report, '--healthy-before', '0', '--scrape-interval', '1', '--out-dir', path.join(dir, 'alone'));
    expect(alone.status, alone.stdout + alone.stderr).toBe(0);
    expect(alone.stdout).toMatch(/promtool test rules: SUCCESS — Prometheus fires exactly these alerts at all \d+ checks/);
    const first = /\| #1 down \S+ \| [\d.]+ s \| [\d.]+ s \| ([\d.]+) s \|/.exec(alone.stdout);
    expect(first, alone.stdout).not.toBeNull();
    expect(Number(first![1])).toBeLessThan(5);
    // The same expectations in the code agree with the file promtool ran.
    const check = checkSloAlerts(recorded, { service: 'web', objective: 0.999, healthyBeforeMs: 0, scrapeIntervalMs: 1000 });
    expect(check.incidents[0]!.timeToPageMs).not.toBeNull();
    expect(readFileSync(path.join(dir, 'alone', 'test.yml'), 'utf8')).toBe(check.testYaml);

    // After an hour of healthy traffic, a few seconds down spend < 1.44 % of the hour: no page, no ticket.
    const healthy = cli('slo', 'check', report, '--out-dir', path.join(dir, 'healthy'));
    expect(healthy.status, healthy.stdout + healthy.stderr).toBe(0);
    expect(healthy.stdout).toMatch(/\| #1 down \S+ \| [\d.]+ s \| [\d.]+ s \| never \| never \|/);
    expect(healthy.stdout).toMatch(/promtool test rules: SUCCESS/);
  }, 120_000);

  it('fails when Prometheus would fire other alerts than the ones expected (the check is checked)', () => {
    const report = path.join(dir, 'fake.json');
    const timeline = Array.from({ length: 20 }, (_, i) => ({ at: i * 1000, requests: 100, failed: i >= 5 ? 50 : 0, p99Ms: 1 }));
    writeFileSync(report, JSON.stringify({ incidents: [{ id: 1, target: 'x', kind: 'down', injectedAt: 5000, timeToDetectMs: 100 }], requests: 2000, requestAvailability: 0.6, timeline }));
    const out = path.join(dir, 'tampered');
    expect(cli('slo', 'check', report, '--healthy-before', '0', '--scrape-interval', '1', '--out-dir', out).status).toBe(0);
    // Claim the page stays silent where it fires: promtool must refuse.
    const test = readFileSync(path.join(out, 'test.yml'), 'utf8');
    const tampered = test.replace(/eval_time: 10500ms\n {8}alertname: "WebErrorBudgetBurnPage"\n {8}exp_alerts:\n(?: {10,}.*\n)+/, 'eval_time: 10500ms\n        alertname: "WebErrorBudgetBurnPage"\n        exp_alerts: []\n');
    expect(tampered).not.toBe(test);
    writeFileSync(path.join(out, 'test.yml'), tampered);
    const r = spawnSync(findServer(PROMTOOL)!, ['test', 'rules', 'test.yml'], { cwd: out, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
  });
});
