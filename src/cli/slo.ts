import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { SteadfastError } from '../core/errors.js';
import { checkSloAlerts, formatSloAlertCheck, SLO_CHECK_DEFAULTS } from '../metrics/slo-check.js';
import { SLO_RULES_DEFAULTS, sloRulesYaml, type SloRulesOptions } from '../metrics/slo-rules.js';
import { numberIn } from './args.js';
import { readReportFile } from './report.js';

interface RuleFlags {
  service: string;
  objective: number;
  metric: string;
  selector: string;
  errorCodes: string;
}

function ruleOptions(o: RuleFlags): SloRulesOptions {
  return { service: o.service, objective: o.objective, metric: o.metric, selector: o.selector, errorCodes: o.errorCodes };
}

function withRuleFlags(cmd: Command, serviceDefault?: string): Command {
  return cmd
    .option('--service <name>', 'the SLO\'s service (a label on every rule, and the alerts\' name)', serviceDefault)
    .option('--objective <ratio>', 'availability objective', numberIn(0.5, 0.999999), 0.999)
    .option('--metric <name>', 'the request counter, with a status-code label', SLO_RULES_DEFAULTS.metric)
    .option('--selector <matchers>', 'PromQL label matchers picking the service\'s requests, e.g. route="/api"', SLO_RULES_DEFAULTS.selector)
    .option('--error-codes <regex>', 'status codes that count as errors (a PromQL regex)', SLO_RULES_DEFAULTS.errorCodes);
}

/** promtool from Debian's prometheus package, or $STEADFAST_PROMTOOL. */
function findPromtool(): string | undefined {
  const env = process.env.STEADFAST_PROMTOOL;
  if (env !== undefined) return env !== '' && existsSync(env) ? env : undefined;
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/bin', '/usr/local/bin']) {
    if (existsSync(path.join(dir, 'promtool'))) return path.join(dir, 'promtool');
  }
  return undefined;
}

export function registerSlo(program: Command): void {
  const slo = program.command('slo').description('Availability SLOs: Prometheus burn-rate alert rules, and those alerts checked against a recorded run.');
  withRuleFlags(
    slo
      .command('rules')
      .description(
        'Write Prometheus recording and alerting rules for an availability SLO: multiwindow, multi-burn-rate alerts (page at 14.4× over 1 h and 5 min or 6× over 6 h and 30 min; ticket at 3× over 1 d and 2 h or 1× over 3 d and 6 h) over the request counters steadfast exports. Check them with promtool check rules.',
      ),
  )
    .option('-o, --out <file>', 'write the rule file here instead of printing it')
    .action((opts: RuleFlags & { out?: string }) => {
      if (!opts.service) {
        process.stderr.write('steadfast slo rules: --service <name> is required (e.g. --service web)\n');
        process.exitCode = 2;
        return;
      }
      let yaml: string;
      try {
        yaml = sloRulesYaml(ruleOptions(opts));
      } catch (err) {
        if (!(err instanceof SteadfastError)) throw err;
        process.stderr.write(`steadfast slo rules: ${err.message}\n`);
        process.exitCode = 2;
        return;
      }
      if (opts.out) {
        writeFileSync(opts.out, yaml);
        process.stderr.write(`rules written to ${opts.out} (check: promtool check rules ${opts.out})\n`);
      } else process.stdout.write(yaml);
    });

  withRuleFlags(
    slo
      .command('check')
      .description(
        "Check the SLO alerts against a recorded run (the JSON of 'steadfast demo --json' or 'steadfast chaos --json'): for each incident, whether and when the page and the ticket would have fired, next to its time to detect. The run's requests become the counters a gateway exports; promtool test rules confirms every expected alert with Prometheus' own engine.",
      )
      .argument('<report>', 'the run\'s JSON'),
    'web',
  )
    .option('--scrape-interval <seconds>', 'how often Prometheus would scrape the counters', numberIn(1, 600, { integer: true }), SLO_CHECK_DEFAULTS.scrapeIntervalMs / 1000)
    .option('--healthy-before <minutes>', "healthy traffic at the run's rate before it, so the long windows hold what they would in production (0: the run alone)", numberIn(0, 4320, { integer: true }), SLO_CHECK_DEFAULTS.healthyBeforeMs / 60_000)
    .option('--out-dir <dir>', 'keep the rule file and the promtool test here (default: a temporary folder)')
    .option('--no-promtool', 'do not run promtool test rules (the figures are then not confirmed)')
    .action((file: string, opts: RuleFlags & { outDir?: string; promtool: boolean; scrapeInterval: number; healthyBefore: number }) => {
      let check: ReturnType<typeof checkSloAlerts>;
      try {
        const { report } = readReportFile(file);
        check = checkSloAlerts(report, { ...ruleOptions(opts), scrapeIntervalMs: opts.scrapeInterval * 1000, healthyBeforeMs: opts.healthyBefore * 60_000 });
      } catch (err) {
        process.stderr.write(`steadfast slo check: ${(err as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      process.stdout.write(formatSloAlertCheck(check) + '\n');
      const dir = opts.outDir ?? mkdtempSync(path.join(os.tmpdir(), 'steadfast-slo-'));
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'rules.yml'), check.rulesYaml);
      writeFileSync(path.join(dir, 'test.yml'), check.testYaml);
      if (!opts.promtool) {
        process.stdout.write(`not confirmed with promtool (--no-promtool); files in ${dir}\n`);
        return;
      }
      const promtool = findPromtool();
      if (!promtool) {
        process.stdout.write(`not confirmed: promtool not found (apt-get install -y prometheus, or set STEADFAST_PROMTOOL); files in ${dir}\n`);
        process.exitCode = 1;
        return;
      }
      const r = spawnSync(promtool, ['test', 'rules', 'test.yml'], { cwd: dir, encoding: 'utf8' });
      if (r.status === 0) process.stdout.write(`promtool test rules: SUCCESS — Prometheus fires exactly these alerts at all ${check.evaluations.length * 2} checks (${dir})\n`);
      else {
        process.stdout.write(`promtool test rules: FAILED — Prometheus disagrees (${dir}):\n${r.stdout}${r.stderr}\n`);
        process.exitCode = 1;
      }
    });
}
