import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { runPolicyDemo, type ClientFigures, type DemoReport } from '../demo/policy-demo.js';
import { numberIn } from './args.js';

export function registerPolicyDemo(program: Command): void {
  program
    .command('policy-demo')
    .description(
      'Run a real flaky HTTP dependency (healthy → 503s → slow → down → healthy) and call it at a fixed rate twice: ' +
        'bare, and behind steadfast policies (fallback, retry, circuit breaker, timeout); print what each client saw.',
    )
    .option('-d, --duration <seconds>', 'length of the run', numberIn(2, 3600), 15)
    .option('-r, --rate <per-second>', 'requests per second sent by each client (open loop)', numberIn(1, 2000), 40)
    .option('-s, --seed <n>', 'seed of the fault decisions and jitter', numberIn(0, 2 ** 32 - 1, { integer: true }), 7)
    .option('--json <file>', 'also write the report as JSON to this file')
    .option('-q, --quiet', 'no progress lines')
    .action(async (opts: { duration: number; rate: number; seed: number; json?: string; quiet?: boolean }) => {
      const out = process.stdout;
      out.write(`steadfast policy-demo: ${opts.duration} s at ${opts.rate} req/s per client, seed ${opts.seed}\n`);
      const report = await runPolicyDemo({
        durationSec: opts.duration,
        ratePerSec: opts.rate,
        seed: opts.seed,
        onProgress: opts.quiet
          ? undefined
          : (p) =>
              out.write(
                `  ${p.elapsedSec.toFixed(0).padStart(3)} s  dependency ${p.phase.padEnd(7)}  ` +
                  `bare: ${p.bare.ok}/${p.bare.requests} ok, ${p.bare.inFlight} waiting  ·  ` +
                  `steadfast: ${p.protected.ok + p.protected.fallback}/${p.protected.requests} answered (${p.protected.fallback} fallback), breaker ${p.breaker}\n`,
              ),
      });
      out.write('\n' + formatReport(report) + '\n');
      if (opts.json) {
        writeFileSync(opts.json, JSON.stringify(report, null, 2) + '\n');
        out.write(`report written to ${opts.json}\n`);
      }
    });
}

function row(name: string, f: ClientFigures): string {
  const answered = f.requests ? ((f.ok + f.fallback) / f.requests) * 100 : 0;
  return `| ${name} | ${f.requests} | ${f.ok} | ${f.fallback} | ${f.failed} | ${answered.toFixed(1)} % | ${f.p50Ms.toFixed(1)} | ${f.p99Ms.toFixed(1)} | ${f.peakInFlight} |`;
}

export function formatReport(r: DemoReport): string {
  const lines = [
    'Script: ' + r.script.map((s) => `${s.phase} ${s.fromSec}–${s.toSec} s`).join(', '),
    '',
    '| client | requests | fresh | fallback | failed | answered | p50 ms | p99 ms | peak in flight |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    row('bare fetch', r.bare),
    row('steadfast: wrap(fallback, timeout 500 ms, retry 3, breaker, timeout 200 ms)', r.protected),
    '',
    `steadfast made ${r.retries} retries and cut ${r.timeouts} slow calls at their deadline.`,
    'Circuit breaker: ' + (r.breakerTransitions.length ? r.breakerTransitions.map((t) => `${t.atSec} s ${t.from}→${t.to}`).join(', ') : 'never opened'),
  ];
  return lines.join('\n') + '\n';
}
