import { writeFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { FaultProxy } from '../chaos/fault-proxy.js';
import { LoadGenerator } from '../chaos/load-generator.js';
import { ProcessChaos, type ProcessFault } from '../chaos/process-chaos.js';
import { nextFaultDelayMs, type Schedule } from '../chaos/schedule.js';
import { seededRandom } from '../core/random.js';
import { AvailabilityTracker } from '../metrics/availability.js';
import { renderHtmlReport } from '../metrics/report/html.js';
import { formatReport } from '../metrics/report/terminal.js';
import { numberIn } from './args.js';

type UrlFault = 'latency' | 'down' | 'reset';
const PROCESS_FAULTS = ['kill', 'pause'];
const URL_FAULTS = ['latency', 'down', 'reset'];

function faultList(value: string): string[] {
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = list.filter((f) => ![...PROCESS_FAULTS, ...URL_FAULTS].includes(f));
  if (list.length === 0 || bad.length) throw new InvalidArgumentError(`must be a comma list of kill, pause (a command target) or latency, down, reset (a URL target), got '${value}'`);
  return list;
}

export function registerChaos(program: Command): void {
  program
    .command('chaos')
    .description('Run a chaos experiment against your own service — a command to supervise and kill/pause, or a URL to put a fault proxy in front of — under open-loop load, and report availability, MTTD, MTTR, MTBF and failure rate.')
    .requiredOption('-t, --target <cmd|url>', "a command that runs your service (e.g. 'node server.js'), or its http:// URL")
    .option('-u, --url <url>', 'with a command target: where to send the load (e.g. http://127.0.0.1:8080/health)')
    .option('-f, --faults <list>', 'kill,pause for a command; latency,down,reset for a URL', faultList)
    .option('-d, --duration <seconds>', 'length of the experiment', numberIn(1, 86_400), 30)
    .option('-r, --rate <per-second>', 'open-loop request rate', numberIn(1, 10_000), 50)
    .option('-s, --seed <n>', 'seed of the fault schedule', numberIn(0, 2 ** 32 - 1, { integer: true }), 7)
    .option('--mtbf <ms>', 'mean time between faults (Poisson)', numberIn(100, 86_400_000), 5000)
    .option('--fixed', 'faults at a fixed interval of --mtbf instead of a Poisson process')
    .option('--fault-ms <ms>', 'how long a pause, latency or outage lasts', numberIn(1, 3_600_000, { integer: true }), 2000)
    .option('--restart-delay <ms>', 'a killed process is restarted after this long', numberIn(0, 3_600_000, { integer: true }), 500)
    .option('--slo <ratio>', 'availability objective', numberIn(0.5, 0.999999), 0.999)
    .option('--json <file>', 'write the report as JSON')
    .option('--html <file>', 'write a self-contained HTML report')
    .option('-q, --quiet', 'no progress lines')
    .action(async (opts: { target: string; url?: string; faults?: string[]; duration: number; rate: number; seed: number; mtbf: number; fixed?: boolean; faultMs: number; restartDelay: number; slo: number; json?: string; html?: string; quiet?: boolean }) => {
      const isUrl = /^https?:\/\//.test(opts.target);
      const faults = opts.faults ?? (isUrl ? ['latency', 'down'] : ['kill']);
      if (isUrl && faults.some((f) => PROCESS_FAULTS.includes(f))) {
        process.stderr.write(`steadfast chaos: --faults ${faults.filter((f) => PROCESS_FAULTS.includes(f)).join(',')} cannot be used with a URL target (use ${URL_FAULTS.join(', ')}; kill and pause need a command)\n`);
        process.exitCode = 2;
        return;
      }
      if (!isUrl && !opts.url) {
        process.stderr.write('steadfast chaos: a command target needs --url <where the service answers> for the load\n');
        process.exitCode = 2;
        return;
      }
      const schedule: Schedule = opts.fixed ? { kind: 'fixed', intervalMs: opts.mtbf } : { kind: 'poisson', mtbfMs: opts.mtbf };
      // About 60 points on the charts whatever the length of the run.
      const tracker = new AvailabilityTracker({ slo: opts.slo, bucketMs: Math.max(100, Math.round((opts.duration * 1000) / 60)) });
      // The load generator is the observer: a fault counts as detected at the first failed request
      // after it, and the target as restored at the first success after the fault ended.
      let awaitingFailure: number | undefined;
      let awaitingRestore: number | undefined;
      const random = seededRandom(opts.seed);
      const target = new URL(opts.url ?? opts.target);

      // Network faults go through a FaultProxy in front of the service; the load goes through it too.
      let proxy: FaultProxy | undefined;
      let loadUrl = target.href;
      if (faults.some((f) => URL_FAULTS.includes(f))) {
        proxy = await new FaultProxy({ upstream: `${target.hostname}:${target.port || (target.protocol === 'https:' ? 443 : 80)}` }).start();
        loadUrl = `${target.protocol}//127.0.0.1:${proxy.port}${target.pathname}${target.search}`;
      }
      let chaos: ProcessChaos | undefined;
      let lastProcessIncident: number | undefined;
      if (!isUrl) {
        chaos = new ProcessChaos({ processes: [{ name: 'target', command: ['/bin/sh', '-c', `exec ${opts.target}`] }], faults: ['kill', 'pause'], pauseMs: opts.faultMs, restartDelayMs: opts.restartDelay, seed: opts.seed });
        chaos.on('start', (e) => e.restarts > 0 && (awaitingRestore = lastProcessIncident));
        chaos.on('resumed', () => (awaitingRestore = lastProcessIncident));
        chaos.start({ inject: false });
        await new Promise((r) => setTimeout(r, 1000)); // let it start
      }
      let running = true;
      let n = 0;
      const inject = async (kind: string): Promise<void> => {
        const label = isUrl ? opts.target : 'target';
        if (kind === 'kill' || kind === 'pause') {
          const rec = chaos!.inject(kind as ProcessFault);
          if (!rec) return;
          lastProcessIncident = tracker.recordFault(rec.target, kind, rec.at);
          awaitingFailure = lastProcessIncident;
          if (!opts.quiet) process.stdout.write(`  fault #${++n}: ${kind} (pid ${rec.pid})\n`);
          return;
        }
        const id = tracker.recordFault(label, kind as UrlFault);
        awaitingFailure = id;
        if (!opts.quiet) process.stdout.write(`  fault #${++n}: ${kind} for ${opts.faultMs} ms\n`);
        if (kind === 'down') await proxy!.setEnabled(false);
        else proxy!.addToxic(kind === 'latency' ? { name: 'chaos', type: 'latency', attributes: { latency: 1000 } } : { name: 'chaos', type: 'reset_peer', attributes: { timeout: 0 } });
        await new Promise((r) => setTimeout(r, opts.faultMs));
        if (kind === 'down') await proxy!.setEnabled(true);
        else proxy!.removeToxic('chaos');
        awaitingRestore = id;
      };
      const looping = (async () => {
        while (running) {
          await new Promise((r) => setTimeout(r, nextFaultDelayMs(schedule, random)));
          if (running) await inject(faults[Math.floor(random() * faults.length)]!);
        }
      })();
      const stopFaults = async (): Promise<void> => {
        running = false;
        await looping.catch(() => {});
        await chaos?.stop();
        await proxy?.stop();
      };
      tracker.start();
      const load = new LoadGenerator({ url: loadUrl, ratePerSec: opts.rate, durationMs: opts.duration * 1000, timeoutMs: 2000 });
      let sent = 0;
      let failed = 0;
      load.on('result', (r) => {
        sent++;
        if (!r.ok) failed++;
        const at = r.scheduledAt + r.latencyMs;
        tracker.recordRequest(r.ok, r.latencyMs, at);
        if (!r.ok && awaitingFailure !== undefined) {
          tracker.recordDetection(awaitingFailure, at);
          awaitingFailure = undefined;
        }
        if (r.ok && awaitingRestore !== undefined) {
          tracker.recordRestore(awaitingRestore, at);
          awaitingRestore = undefined;
        }
      });
      const progress = opts.quiet ? undefined : setInterval(() => process.stdout.write(`  ${sent} requests, ${failed} failed (${sent ? (((sent - failed) / sent) * 100).toFixed(2) : '100.00'} % ok)\n`), 1000);
      process.stdout.write(`steadfast chaos: ${opts.duration} s at ${opts.rate} req/s against ${loadUrl}, faults ${faults.join(',')}, seed ${opts.seed}\n`);
      await load.run();
      if (progress) clearInterval(progress);
      await stopFaults();
      const report = tracker.report();
      process.stdout.write('\n' + formatReport(report) + '\n');
      if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 2) + '\n');
      if (opts.html) writeFileSync(opts.html, renderHtmlReport(report, { title: `steadfast chaos: ${opts.target}` }));
      if (opts.json || opts.html) process.stdout.write(`report written to ${[opts.json, opts.html].filter(Boolean).join(' and ')}\n`);
    });
}
