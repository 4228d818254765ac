import { InvalidOptionError } from '../core/errors.js';
import { errorBudget } from './formulas.js';
import { promDuration, resolveSloRules, sloAlertName, sloRuleGroup, sloRulesYaml, type SloRulesOptions } from './slo-rules.js';

/**
 * Checks the SLO alerts against a recorded run: the run's timeline becomes the request
 * counters a gateway would have exported (successes and failures, one sample per bucket), the
 * rules of `sloRules` are evaluated on them the way Prometheus evaluates them (rate() with its
 * extrapolation, range selectors, the burn-rate conditions), and for each incident the report
 * says whether and when the page (and the ticket) would have fired. The same series and the
 * expected alerts at every evaluation are written as a `promtool test rules` file, so Prometheus'
 * own engine confirms every one of them.
 */
export interface RecordedRun {
  /** Per bucket: when it starts (ms), its requests and failed requests. */
  timeline: { at: number; requests: number; failed: number }[];
  incidents: { id: number; target: string; kind: string; injectedAt: number; timeToDetectMs: number | null; recoveredAt?: number | null }[];
}

export interface AlertEvaluation {
  /** ms after the first bucket's start. */
  atMs: number;
  page: boolean;
  ticket: boolean;
  /** The error ratio over each window, as the recording rules give it (null: no requests in it). */
  ratios: Record<string, number | null>;
}

export interface IncidentAlerts {
  id: number;
  target: string;
  kind: string;
  /** ms after the first bucket's start. */
  injectedMs: number;
  timeToDetectMs: number | null;
  /** From the fault to the first evaluation with the page firing (before the next fault or the end); null: it never fired. */
  timeToPageMs: number | null;
  timeToTicketMs: number | null;
  /** The page was already firing when the fault came (an earlier incident's). */
  pagingAlready: boolean;
}

export interface SloAlertCheck {
  service: string;
  objective: number;
  /** The scrape interval the run was turned into (ms); rules are evaluated half-way between scrapes. */
  scrapeIntervalMs: number;
  /** Healthy traffic assumed before the run (ms). */
  healthyBeforeMs: number;
  evaluations: AlertEvaluation[];
  incidents: IncidentAlerts[];
  /** The rule file (YAML). */
  rulesYaml: string;
  /** A `promtool test rules` file for it; `rule_files` names `rulesFile`. */
  testYaml: string;
}

type Sample = { t: number; v: number };

/** Prometheus 2.x `rate(x[range])` at `at` over counter samples (its extrapolatedRate), per second; undefined for fewer than 2 samples. */
export function promRate(samples: readonly Sample[], at: number, rangeMs: number): number | undefined {
  const start = at - rangeMs;
  const inRange = samples.filter((s) => s.t >= start && s.t <= at);
  if (inRange.length < 2) return undefined;
  const first = inRange[0]!;
  const last = inRange.at(-1)!;
  let result = last.v - first.v;
  for (let i = 1; i < inRange.length; i++) if (inRange[i]!.v < inRange[i - 1]!.v) result += inRange[i - 1]!.v; // counter resets
  let durationToStart = (first.t - start) / 1000;
  const durationToEnd = (at - last.t) / 1000;
  const sampled = (last.t - first.t) / 1000;
  const average = sampled / (inRange.length - 1);
  if (result > 0 && first.v >= 0) {
    const durationToZero = sampled * (first.v / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  const threshold = average * 1.1;
  let extrapolateTo = sampled;
  extrapolateTo += durationToStart < threshold ? durationToStart : average / 2;
  extrapolateTo += durationToEnd < threshold ? durationToEnd : average / 2;
  return (result * (extrapolateTo / sampled)) / (rangeMs / 1000);
}

const EQ_MATCHER = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$/;

export interface SloCheckOptions extends SloRulesOptions {
  /** The rule file's name in the test's `rule_files`. Default rules.yml. */
  rulesFile?: string;
  /** How often Prometheus would scrape the counters: the run's buckets are added up into scrapes this far apart. Default 15 000 (15 s). */
  scrapeIntervalMs?: number;
  /**
   * Healthy traffic before the run, at the run's mean rate with no errors — as a service that was
   * fine for the past hour would show it — so that the long windows hold what they hold in
   * production and not only the run. 0: the run alone (every window then holds only the run, and
   * the alerts fire on its error ratio since it began). Default 3 600 000 (1 h).
   */
  healthyBeforeMs?: number;
}

export const SLO_CHECK_DEFAULTS = Object.freeze({ scrapeIntervalMs: 15_000, healthyBeforeMs: 3_600_000 });

export function checkSloAlerts(run: RecordedRun, options: SloCheckOptions): SloAlertCheck {
  const { rulesFile = 'rules.yml', scrapeIntervalMs = SLO_CHECK_DEFAULTS.scrapeIntervalMs, healthyBeforeMs = SLO_CHECK_DEFAULTS.healthyBeforeMs, ...ruleOptions } = options;
  const o = resolveSloRules(ruleOptions);
  const scope = 'checkSloAlerts';
  if (!Number.isInteger(scrapeIntervalMs) || scrapeIntervalMs < 1000 || scrapeIntervalMs > 600_000 || scrapeIntervalMs % 2 !== 0) throw new InvalidOptionError(`${scope}: scrapeIntervalMs must be an even whole number of ms from 1000 to 600 000, got ${JSON.stringify(scrapeIntervalMs)}`);
  if (!Number.isInteger(healthyBeforeMs) || healthyBeforeMs < 0 || healthyBeforeMs > 3 * 86_400_000 || healthyBeforeMs % scrapeIntervalMs !== 0) throw new InvalidOptionError(`${scope}: healthyBeforeMs must be a whole number of scrape intervals from 0 to 3 days, got ${JSON.stringify(healthyBeforeMs)}`);
  const timeline = run?.timeline;
  if (!Array.isArray(timeline) || timeline.length < 2) throw new InvalidOptionError(`${scope}: the run needs a timeline of at least 2 buckets (the JSON of steadfast demo or steadfast chaos)`);
  const bucketMs = timeline[1]!.at - timeline[0]!.at;
  if (!(bucketMs > 0)) throw new InvalidOptionError(`${scope}: the timeline's buckets must be in order and evenly spaced`);
  if (!new RegExp(`^(?:${o.errorCodes})$`).test('503')) throw new InvalidOptionError(`${scope}: errorCodes ${JSON.stringify(o.errorCodes)} must match 503, the code a failed request of the run is counted with`);
  // The series carry the selector's labels: only equality matchers can be turned into them.
  const labels: string[] = [];
  if (o.selector !== '') {
    for (const m of o.selector.split(',')) {
      const e = EQ_MATCHER.exec(m);
      if (!e) throw new InvalidOptionError(`${scope}: only equality matchers (name="value") can be given to a recorded run's series; got ${JSON.stringify(m.trim())}`);
      labels.push(`${e[1]}="${e[2]}"`);
    }
  }
  const start = timeline[0]!.at;
  const runMs = timeline.length * bucketMs;
  const S = scrapeIntervalMs;
  const before = healthyBeforeMs / S;
  const totalRequests = timeline.reduce((n, b) => n + b.requests, 0);
  const perScrape = healthyBeforeMs > 0 ? Math.max(1, Math.round((totalRequests / runMs) * S)) : 0;
  // Scrape j (time j × S) holds what was counted before it: the healthy past, then the run's
  // buckets that ended by then.
  const ok: Sample[] = [];
  const bad: Sample[] = [];
  for (let j = 0; j <= before; j++) {
    ok.push({ t: j * S, v: j * perScrape });
    bad.push({ t: j * S, v: 0 });
  }
  const scrapes = Math.ceil(runMs / S);
  let b = 0;
  let okSum = before * perScrape;
  let badSum = 0;
  for (let j = 1; j <= scrapes; j++) {
    while (b < timeline.length && (b + 1) * bucketMs <= j * S) {
      okSum += timeline[b]!.requests - timeline[b]!.failed;
      badSum += timeline[b]!.failed;
      b++;
    }
    ok.push({ t: healthyBeforeMs + j * S, v: okSum });
    bad.push({ t: healthyBeforeMs + j * S, v: badSum });
  }
  const windows = [...new Set(o.rules.flatMap((r) => [r.shortMs, r.longMs]))];
  const budget = errorBudget(o.objective);
  // Rules are evaluated half-way between scrapes (every S/2, checked at the odd steps): the range
  // selectors' edges never fall on a sample, so Prometheus 2 (closed ranges) and 3 (left-open)
  // select the same samples, and so does this evaluator.
  const evaluations: AlertEvaluation[] = [];
  for (let m = 0; m < scrapes; m++) {
    const at = healthyBeforeMs + m * S + S / 2;
    const ratios: Record<string, number | null> = {};
    for (const w of windows) {
      const e = promRate(bad, at, w);
      const k = promRate(ok, at, w);
      const total = (e ?? 0) + (k ?? 0);
      ratios[promDuration(w)] = e === undefined || k === undefined || total === 0 ? null : e / total;
    }
    const fires = (severity: 'page' | 'ticket'): boolean =>
      o.rules.some((r) => {
        if (r.severity !== severity) return false;
        const long = ratios[promDuration(r.longMs)];
        const short = ratios[promDuration(r.shortMs)];
        const limit = Number((r.factor * budget).toPrecision(12));
        return long !== null && short !== null && long! >= limit && short! >= limit;
      });
    evaluations.push({ atMs: at - healthyBeforeMs, page: fires('page'), ticket: fires('ticket'), ratios });
  }
  const incidents = [...(run.incidents ?? [])].sort((x, y) => x.injectedAt - y.injectedAt);
  const result: IncidentAlerts[] = incidents.map((i, n) => {
    const injectedMs = i.injectedAt - start;
    const until = n + 1 < incidents.length ? incidents[n + 1]!.injectedAt - start : Infinity;
    const first = (key: 'page' | 'ticket'): number | null => {
      const e = evaluations.find((x) => x.atMs >= injectedMs && x.atMs < until && x[key]);
      return e ? e.atMs - injectedMs : null;
    };
    const last = [...evaluations].reverse().find((x) => x.atMs < injectedMs);
    return { id: i.id, target: i.target, kind: i.kind, injectedMs, timeToDetectMs: i.timeToDetectMs, timeToPageMs: first('page'), timeToTicketMs: first('ticket'), pagingAlready: last?.page === true };
  });

  const group = sloRuleGroup(ruleOptions);
  const alerts = group.rules.filter((r) => r.alert !== undefined);
  const q = (x: string): string => JSON.stringify(x);
  const series = (code: string): string => `${o.metric}{${[...labels, `${o.codeLabel}="${code}"`].join(',')}}`;
  const values = (xs: Sample[], prefix: string): string => [prefix, ...xs.slice(before + 1).map((x) => String(x.v))].join(' ');
  const lines = [
    `# promtool test rules: the run's requests as the counters a gateway exports (scraped every ${promDuration(S)}${healthyBeforeMs > 0 ? `, after ${promDuration(healthyBeforeMs)} of healthy traffic at the run's rate` : ''}), and the alerts expected at every evaluation.`,
    `rule_files:`,
    `  - ${q(rulesFile)}`,
    `evaluation_interval: ${S / 2}ms`,
    `tests:`,
    `  - interval: ${S}ms`,
    `    input_series:`,
    `      - series: ${q(series('200'))}`,
    `        values: ${q(values(ok, `0+${perScrape}x${before}`))}`,
    `      - series: ${q(series('503'))}`,
    `        values: ${q(values(bad, `0+0x${before}`))}`,
    `    alert_rule_test:`,
  ];
  for (const e of evaluations) {
    for (const a of alerts) {
      const severity = a.labels!.severity as 'page' | 'ticket';
      lines.push(`      - eval_time: ${e.atMs + healthyBeforeMs}ms`, `        alertname: ${q(a.alert!)}`);
      if (!e[severity]) {
        lines.push(`        exp_alerts: []`);
        continue;
      }
      lines.push(`        exp_alerts:`, `          - exp_labels:`);
      for (const [k, v] of Object.entries(a.labels!)) lines.push(`              ${k}: ${q(v)}`);
      lines.push(`            exp_annotations:`);
      for (const [k, v] of Object.entries(a.annotations!)) lines.push(`              ${k}: ${q(v)}`);
    }
  }
  return { service: o.service, objective: o.objective, scrapeIntervalMs: S, healthyBeforeMs, evaluations, incidents: result, rulesYaml: sloRulesYaml(ruleOptions), testYaml: lines.join('\n') + '\n' };
}

/** One line per incident: the fault, MTTD, and when the page and the ticket would have fired. */
export function formatSloAlertCheck(c: SloAlertCheck): string {
  const s = (ms: number | null): string => (ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`);
  const out = [
    `SLO ${c.objective} for ${c.service}: ${sloAlertName(c.service, 'page')} and ${sloAlertName(c.service, 'ticket')} on the run's requests scraped every ${c.scrapeIntervalMs / 1000} s, ` +
      `evaluated half-way between scrapes (${c.evaluations.length} evaluations)${c.healthyBeforeMs > 0 ? `, after ${promDuration(c.healthyBeforeMs)} of healthy traffic at the run's rate` : ', the run alone'}`,
  ];
  out.push('| incident | fault at | detected after (MTTD) | page after | ticket after |', '| --- | ---: | ---: | ---: | ---: |');
  for (const i of c.incidents) {
    out.push(`| #${i.id} ${i.kind} ${i.target} | ${(i.injectedMs / 1000).toFixed(1)} s | ${s(i.timeToDetectMs)} | ${i.pagingAlready ? 'already paging' : s(i.timeToPageMs)} | ${s(i.timeToTicketMs)} |`);
  }
  const paged = c.evaluations.filter((e) => e.page).length;
  out.push(`page firing in ${paged} of ${c.evaluations.length} evaluations; ticket in ${c.evaluations.filter((e) => e.ticket).length}`);
  return out.join('\n');
}
