import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Registry } from 'prom-client';
import type { AvailabilityReport } from '../metrics/availability.js';
import { renderHtmlReport } from '../metrics/report/html.js';
import { exportReport } from '../metrics/report/prometheus.js';
import { formatReport } from '../metrics/report/terminal.js';

type History = { lost: number; unknown: number; acknowledged: number };

/** Reads what `steadfast demo --json` or `steadfast chaos --json` wrote; the message says what is wrong. */
export function readReportFile(file: string): { report: AvailabilityReport; history: History | undefined; kind: 'demo' | 'chaos' } {
  if (!existsSync(file)) throw new Error(`${file}: no such file`);
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message})`);
  }
  const isReport = (x: unknown): x is AvailabilityReport =>
    x !== null && typeof x === 'object' && Array.isArray((x as AvailabilityReport).incidents) && typeof (x as AvailabilityReport).requests === 'number' && typeof (x as AvailabilityReport).requestAvailability === 'number' && Array.isArray((x as AvailabilityReport).timeline);
  const d = data as { report?: unknown; lostWrites?: number; history?: { unknown?: number; acknowledged?: number } };
  if (d && typeof d === 'object' && isReport(d.report)) {
    const history = typeof d.lostWrites === 'number' && d.history ? { lost: d.lostWrites, unknown: d.history.unknown ?? 0, acknowledged: d.history.acknowledged ?? 0 } : undefined;
    return { report: d.report, history, kind: 'demo' };
  }
  if (isReport(data)) return { report: data, history: undefined, kind: 'chaos' };
  throw new Error(`${file}: not a steadfast report (expected the JSON written by 'steadfast demo --json' or 'steadfast chaos --json')`);
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description("Render a saved report again — the JSON from 'steadfast demo --json' or 'steadfast chaos --json' — for the terminal, as a self-contained HTML page, or as Prometheus text.")
    .argument('<file>', 'the report JSON')
    .option('--html <file>', 'write a self-contained HTML report')
    .option('--prometheus', 'print the figures as Prometheus text (gauges) instead')
    .option('--json', 'print the availability report as JSON instead')
    .action(async (file: string, opts: { html?: string; prometheus?: boolean; json?: boolean }) => {
      let r: ReturnType<typeof readReportFile>;
      try {
        r = readReportFile(file);
      } catch (err) {
        process.stderr.write(`steadfast report: ${(err as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      if (opts.prometheus) {
        const registry = new Registry();
        exportReport(r.report, registry);
        process.stdout.write(await registry.metrics());
      } else if (opts.json) process.stdout.write(JSON.stringify(r.report, null, 2) + '\n');
      else process.stdout.write(formatReport(r.report, r.history) + '\n');
      if (opts.html) {
        writeFileSync(opts.html, renderHtmlReport(r.report, { title: r.kind === 'demo' ? 'steadfast demo: a web app + database under injected faults' : 'steadfast chaos report', ...(r.history ? { history: r.history } : {}) }));
        process.stderr.write(`report written to ${opts.html}\n`);
      }
    });
}
