import { InvalidOptionError, OptionRangeError } from '../core/errors.js';
import { errorBudget, SRE_BURN_RATE_RULES, type BurnRateRule } from './formulas.js';

/**
 * Prometheus recording and alerting rules for an availability SLO — multiwindow, multi-burn-rate
 * alerts (the Google SRE workbook, ch. 5; Sloth's defaults) over the request counters steadfast
 * exports (the gateway's `steadfast_gateway_requests_total{route,code}` by default).
 */
export interface SloRulesOptions {
  /** The SLO's service, a label on every rule (`slo_service`). */
  service: string;
  /** The availability objective, e.g. 0.999. */
  objective: number;
  /** The request counter, with a status-code label. Default `steadfast_gateway_requests_total`. */
  metric?: string;
  /** PromQL label matchers that pick the service's requests, e.g. `route="/api"`. Default: none. */
  selector?: string;
  /** Which values of the code label are errors (a PromQL regex). Default `5..`. */
  errorCodes?: string;
  /** The status-code label. Default `code`. */
  codeLabel?: string;
  /** The alerts. Default SRE_BURN_RATE_RULES: page at 14.4× (1 h, 5 min) and 6× (6 h, 30 min), ticket at 3× (1 d, 2 h) and 1× (3 d, 6 h). */
  rules?: readonly BurnRateRule[];
}

export const SLO_RULES_DEFAULTS = Object.freeze({
  metric: 'steadfast_gateway_requests_total',
  selector: '',
  errorCodes: '5..',
  codeLabel: 'code',
});

export interface PrometheusRule {
  record?: string;
  alert?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface PrometheusRuleGroup {
  name: string;
  rules: PrometheusRule[];
}

/** The Prometheus duration of a window: 5m, 1h, 1d. */
export function promDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** The name of the recorded error ratio over `windowMs`. */
export function sliRecordName(windowMs: number): string {
  return `steadfast_slo:sli_error:ratio_rate${promDuration(windowMs)}`;
}

const SERVICE_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const METRIC_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
// One matcher: name, operator, a double-quoted value without unescaped quotes.
const MATCHER_RE = /^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*$/;

export interface ResolvedSloRules extends Required<Omit<SloRulesOptions, 'rules'>> {
  rules: readonly BurnRateRule[];
}

export function resolveSloRules(options: SloRulesOptions): ResolvedSloRules {
  const scope = 'sloRules';
  if (options === null || typeof options !== 'object') throw new InvalidOptionError(`${scope}: options { service, objective } are required`);
  const known = ['service', 'objective', 'metric', 'selector', 'errorCodes', 'codeLabel', 'rules'];
  for (const k of Object.keys(options)) if (!known.includes(k)) throw new InvalidOptionError(`${scope}: unknown option ${JSON.stringify(k)} (known: ${known.join(', ')})`);
  const d = SLO_RULES_DEFAULTS;
  const { service, objective } = options;
  if (typeof service !== 'string' || !SERVICE_RE.test(service)) throw new InvalidOptionError(`${scope}: service must be 1–64 letters, digits, _ . or -, starting with a letter; got ${JSON.stringify(service)}`);
  if (typeof objective !== 'number' || !(objective > 0 && objective < 1)) throw new OptionRangeError(`${scope}: objective must be a number between 0 and 1 exclusive, such as 0.999; got ${JSON.stringify(objective)}`);
  const metric = options.metric ?? d.metric;
  if (typeof metric !== 'string' || !METRIC_RE.test(metric)) throw new InvalidOptionError(`${scope}: metric must be a Prometheus metric name, got ${JSON.stringify(metric)}`);
  const selector = (options.selector ?? d.selector).trim();
  if (typeof selector !== 'string' || (selector !== '' && !splitMatchers(selector).every((m) => MATCHER_RE.test(m)))) {
    throw new InvalidOptionError(`${scope}: selector must be PromQL label matchers without braces, such as route="/api",method=~"GET|PUT"; got ${JSON.stringify(selector)}`);
  }
  const errorCodes = options.errorCodes ?? d.errorCodes;
  if (typeof errorCodes !== 'string' || errorCodes === '' || /["\\\n]/.test(errorCodes)) throw new InvalidOptionError(`${scope}: errorCodes must be a regex of status codes without quotes or backslashes, such as 5.. or 5..|429; got ${JSON.stringify(errorCodes)}`);
  try {
    new RegExp(`^(?:${errorCodes})$`);
  } catch (err) {
    throw new InvalidOptionError(`${scope}: errorCodes is not a valid regex: ${(err as Error).message}`);
  }
  const codeLabel = options.codeLabel ?? d.codeLabel;
  if (typeof codeLabel !== 'string' || !LABEL_RE.test(codeLabel)) throw new InvalidOptionError(`${scope}: codeLabel must be a Prometheus label name, got ${JSON.stringify(codeLabel)}`);
  const rules = options.rules ?? SRE_BURN_RATE_RULES;
  if (!Array.isArray(rules) || rules.length === 0) throw new InvalidOptionError(`${scope}: rules must be a non-empty array of { longMs, shortMs, factor, severity }`);
  for (const [i, r] of rules.entries()) {
    if (!(Number.isInteger(r.longMs) && Number.isInteger(r.shortMs) && r.shortMs > 0 && r.shortMs < r.longMs && r.longMs % 1000 === 0 && r.shortMs % 1000 === 0)) throw new OptionRangeError(`${scope}: rules[${i}]: shortMs and longMs must be whole seconds with 0 < shortMs < longMs`);
    if (!(typeof r.factor === 'number' && r.factor > 0)) throw new OptionRangeError(`${scope}: rules[${i}].factor must be a number > 0`);
    if (r.severity !== 'page' && r.severity !== 'ticket') throw new InvalidOptionError(`${scope}: rules[${i}].severity must be page or ticket`);
  }
  return { service, objective, metric, selector, errorCodes, codeLabel, rules };
}

function splitMatchers(selector: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i]!;
    if (c === '\\' && quoted) {
      cur += c + (selector[++i] ?? '');
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** The alert names: `<Service>ErrorBudgetBurnPage` and `…Ticket`. */
export function sloAlertName(service: string, severity: 'page' | 'ticket'): string {
  const pascal = service.split(/[^A-Za-z0-9]+/).map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
  return `${pascal}ErrorBudgetBurn${severity === 'page' ? 'Page' : 'Ticket'}`;
}

/**
 * The rule group: one recorded error ratio per window the alerts use, then one alert per
 * severity (its burn-rate conditions or-ed). Recording rules and alerts share the group, so the
 * alerts read ratios recorded at the same evaluation.
 */
export function sloRuleGroup(options: SloRulesOptions): PrometheusRuleGroup {
  const o = resolveSloRules(options);
  const sel = o.selector === '' ? [] : [o.selector];
  const all = `{${sel.join(',')}}`;
  const errors = `{${[...sel, `${o.codeLabel}=~"${o.errorCodes}"`].join(',')}}`;
  const labels = { slo_service: o.service };
  const windows = [...new Set(o.rules.flatMap((r) => [r.shortMs, r.longMs]))].sort((a, b) => a - b);
  const rules: PrometheusRule[] = windows.map((w) => ({
    record: sliRecordName(w),
    expr: `(sum(rate(${o.metric}${errors}[${promDuration(w)}])) or vector(0)) / sum(rate(${o.metric}${all}[${promDuration(w)}]))`,
    labels,
  }));
  const budget = errorBudget(o.objective);
  const ratio = (w: number): string => `${sliRecordName(w)}{slo_service="${o.service}"}`;
  for (const severity of ['page', 'ticket'] as const) {
    const of = o.rules.filter((r) => r.severity === severity);
    if (of.length === 0) continue;
    const conditions = of.map((r) => `(${ratio(r.longMs)} >= ${fmt(r.factor * budget)} and ${ratio(r.shortMs)} >= ${fmt(r.factor * budget)})`);
    rules.push({
      alert: sloAlertName(o.service, severity),
      expr: conditions.join(' or '),
      labels: { ...labels, severity },
      annotations: {
        summary: `${o.service} is spending its error budget too fast`,
        description: `${o.service}: ${of.map((r) => `${r.factor}× the budget over ${promDuration(r.longMs)} and ${promDuration(r.shortMs)}`).join(', or ')} (objective ${o.objective}, budget ${fmt(budget)} of requests)`,
      },
    });
  }
  return { name: `steadfast-slo-${o.service}`, rules };
}

const fmt = (x: number): string => String(Number(x.toPrecision(12)));

/** The rules as a Prometheus rule file (YAML), ready for `rule_files:` and `promtool check rules`. */
export function sloRulesYaml(options: SloRulesOptions | SloRulesOptions[]): string {
  const groups = (Array.isArray(options) ? options : [options]).map(sloRuleGroup);
  const q = (s: string): string => JSON.stringify(s); // a JSON string is a YAML double-quoted scalar
  const lines = ['# Generated by `steadfast slo rules`: multiwindow, multi-burn-rate SLO alerts.', 'groups:'];
  for (const g of groups) {
    lines.push(`  - name: ${q(g.name)}`, '    rules:');
    for (const r of g.rules) {
      lines.push(r.record !== undefined ? `      - record: ${q(r.record)}` : `      - alert: ${q(r.alert!)}`);
      lines.push(`        expr: ${q(r.expr)}`);
      for (const key of ['labels', 'annotations'] as const) {
        const map = r[key];
        if (!map) continue;
        lines.push(`        ${key}:`);
        for (const [k, v] of Object.entries(map)) lines.push(`          ${k}: ${q(v)}`);
      }
    }
  }
  return lines.join('\n') + '\n';
}
