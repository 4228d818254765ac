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
      const wrong = faults.filter((f) => (isUrl ? !URL_FAULTS.includes(f) : !PROCESS_FAULTS.includes(f)));
      if (wrong.length) {
        process.stderr.write(`steadfast chaos: --faults ${wrong.join(',')} cannot be used with a ${isUrl ? 'URL' : 'command'} target (use ${isUrl ? URL_FAULTS.join(', ') : PROCESS_FAULTS.join(', ')})\n`);
        process.exitCode = 2;
        return;
      }
      if (!isUrl && !opts.url) {
        process.stderr.write('steadfast chaos: a command target needs --url <where the service answers> for the load\n');
        process.exitCode = 2;
        return;
      }
      // The load generator is the observer: a fault counts as detected at the first failed request
      // after it, and the target as restored at the first success after its restart or resume.
      let current: number | undefined;
      let awaitingFailure: number | undefined;
      let awaitingRestore: number | undefined;
      const schedule: Schedule = opts.fixed ? { kind: 'fixed', intervalMs: opts.mtbf } : { kind: 'poisson', mtbfMs: opts.mtbf };
      const tracker = new AvailabilityTracker({ slo: opts.slo, bucketMs: 1000 });
      let loadUrl = opts.url ?? opts.target;
      let stopFaults: () => Promise<void>;
      if (!isUrl) {
        const chaos = new ProcessChaos({ processes: [{ name: 'target', command: ['/bin/sh', '-c', `exec ${opts.target}`] }], schedule, faults: faults as ProcessFault[], pauseMs: opts.faultMs, restartDelayMs: opts.restartDelay, seed: opts.seed });
        chaos.on('fault', (f) => {
          current = tracker.recordFault(f.target, f.kind, f.at);
          awaitingFailure = current;
          if (!opts.quiet) process.stdout.write(`  fault #${f.id}: ${f.kind} ${f.target} (pid ${f.pid})\n`);
        });
        // Restored = the restarted (or resumed) process answers again.
        chaos.on('start', (e) => e.restarts > 0 && (awaitingRestore = current));
        chaos.on('resumed', () => (awaitingRestore = current));
        chaos.start();
        await new Promise((r) => setTimeout(r, 1000)); // let it start
        stopFaults = () => chaos.stop();
      } else {
        const u = new URL(opts.target);
        const proxy = await new FaultProxy({ upstream: `${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}` }).start();
        loadUrl = `${u.protocol}//127.0.0.1:${proxy.port}${u.pathname}${u.search}`;
        const random = seededRandom(opts.seed);
        let running = true;
        let n = 0;
        const loop = async (): Promise<void> => {
          while (running) {
            await new Promise((r) => setTimeout(r, nextFaultDelayMs(schedule, random)));
            if (!running) return;
            const kind = faults[Math.floor(random() * faults.length)] as UrlFault;
            const id = tracker.recordFault(opts.target, kind);
            current = id;
            awaitingFailure = id;
            if (!opts.quiet) process.stdout.write(`  fault #${++n}: ${kind} for ${opts.faultMs} ms\n`);
            if (kind === 'down') await proxy.setEnabled(false);
            else proxy.addToxic(kind === 'latency' ? { name: 'chaos', type: 'latency', attributes: { latency: 1000 } } : { name: 'chaos', type: 'reset_peer', attributes: { timeout: 0 } });
            await new Promise((r) => setTimeout(r, opts.faultMs));
            if (kind === 'down') await proxy.setEnabled(true);
            else proxy.removeToxic('chaos');
            awaitingRestore = id;
          }
        };
        const looping = loop();
        stopFaults = async () => {
          running = false;
          await looping.catch(() => {});
          await proxy.stop();
        };
      }
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
