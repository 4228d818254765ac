import type { AvailabilityReport } from '../availability.js';

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** An SVG line chart of (t, value) with the incidents marked as shaded spans. */
function chart(title: string, points: [number, number][], r: AvailabilityReport, opts: { yMax?: number; unit: string; color: string }): string {
  const W = 860;
  const H = 200;
  const P = 40;
  const t0 = r.startedAt;
  const t1 = Math.max(r.endedAt, t0 + 1);
  const yMax = opts.yMax ?? Math.max(1, ...points.map((p) => p[1])) * 1.1;
  const x = (t: number): number => P + ((t - t0) / (t1 - t0)) * (W - 2 * P);
  const y = (v: number): number => H - P + 10 - (v / yMax) * (H - 2 * P);
  const spans = r.incidents
    .map((i) => {
      const end = i.injectedAt + Math.max(i.timeToRecoverMs, 1);
      return `<rect x="${x(i.injectedAt).toFixed(1)}" y="${y(yMax).toFixed(1)}" width="${Math.max(2, x(end) - x(i.injectedAt)).toFixed(1)}" height="${(y(0) - y(yMax)).toFixed(1)}" fill="#e5484d" opacity="0.15"><title>#${i.id} ${esc(i.kind)} ${esc(i.target)}</title></rect><line x1="${x(i.injectedAt).toFixed(1)}" x2="${x(i.injectedAt).toFixed(1)}" y1="${P - 10}" y2="${H - P + 10}" stroke="#e5484d" stroke-dasharray="3,3"/><text x="${(x(i.injectedAt) + 3).toFixed(1)}" y="${P - 12}" font-size="10" fill="#e5484d">#${i.id}</text>`;
    })
    .join('');
  const path = points.map((p, k) => `${k === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
  const ticks = [0, 0.5, 1].map((f) => `<text x="4" y="${(y(yMax * f) + 4).toFixed(1)}" font-size="10" fill="#666">${(yMax * f).toFixed(opts.unit === '%' ? 1 : 0)}${opts.unit}</text><line x1="${P}" x2="${W - P}" y1="${y(yMax * f).toFixed(1)}" y2="${y(yMax * f).toFixed(1)}" stroke="#eee"/>`).join('');
  return `<figure><figcaption>${esc(title)}</figcaption><svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${esc(title)}">${ticks}${spans}<path d="${path}" fill="none" stroke="${opts.color}" stroke-width="1.8"/><text x="${W - P}" y="${H - 4}" font-size="10" fill="#666" text-anchor="end">${((t1 - t0) / 1000).toFixed(0)} s</text></svg></figure>`;
}

/** A self-contained HTML report (no scripts, no external files) for a postmortem. */
export function renderHtmlReport(r: AvailabilityReport, meta: { title?: string; history?: { lost: number; unknown: number; acknowledged: number } } = {}): string {
  const title = meta.title ?? 'steadfast availability report';
  // Each bucket is drawn at its middle: it stands for the whole interval.
  const half = r.timeline.length > 1 ? (r.timeline[1]!.at - r.timeline[0]!.at) / 2 : 0;
  const avail = r.timeline.map((b) => [b.at + half, b.requests ? ((b.requests - b.failed) / b.requests) * 100 : 100] as [number, number]);
  const lat = r.timeline.map((b) => [b.at + half, b.p99Ms] as [number, number]);
  const f = (v: number | null, unit = 'ms'): string => (v === null ? '—' : `${v.toFixed(0)} ${unit}`);
  const cards: [string, string][] = [
    ['Availability (requests)', `${(r.requestAvailability * 100).toFixed(3)} %`],
    ['Availability (time)', `${(r.availability * 100).toFixed(3)} %`],
    ['MTTD', f(r.mttdMs)],
    ['MTTR', f(r.mttrMs)],
    ['MTBF', f(r.mtbfMs)],
    ['Failure rate', `${r.failureRatePerHour.toFixed(2)} / h`],
    ['p99 latency', `${r.latencyMs.p99.toFixed(1)} ms`],
    ['Burn rate', `${r.slo.burnRate.toFixed(2)}×`],
    ...(meta.history ? ([['Acknowledged writes lost', String(meta.history.lost)]] as [string, string][]) : []),
  ];
  const rows = r.incidents
    .map(
      (i) =>
        `<tr><td>${i.id}</td><td>${new Date(i.injectedAt).toISOString().slice(11, 23)}</td><td>${esc(i.kind)}</td><td>${esc(i.target)}</td><td>${f(i.timeToDetectMs)}</td><td>${i.failedRequests ? f(i.timeToRecoverMs) : 'masked'}</td><td>${f(i.timeToRestoreMs)}</td><td>${i.failedRequests}</td></tr>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:960px;color:#1c1c1c;padding:0 1rem}
h1{font-size:1.4rem;margin-bottom:.2rem} .sub{color:#666;margin-top:0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:.6rem;margin:1.2rem 0}
.card{border:1px solid #ddd;border-radius:8px;padding:.6rem .8rem} .card b{display:block;font-size:1.25rem}
.card span{color:#666;font-size:.8rem} figure{margin:1.2rem 0} figcaption{font-weight:600;margin-bottom:.3rem}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums} th,td{border-bottom:1px solid #eee;padding:.35rem .5rem;text-align:left}
th{background:#fafafa} .ok{color:#1a7f37} .bad{color:#cf222e}
</style></head><body>
<h1>${esc(title)}</h1>
<p class="sub">${new Date(r.startedAt).toISOString()} → ${new Date(r.endedAt).toISOString()} · ${r.requests} requests, <span class="${r.failedRequests ? 'bad' : 'ok'}">${r.failedRequests} failed</span> · ${r.incidents.length} faults injected, ${r.maskedIncidents} masked by failover · SLO ${(r.slo.objective * 100).toFixed(2)} %</p>
<div class="cards">${cards.map(([k, v]) => `<div class="card"><span>${esc(k)}</span><b>${esc(v)}</b></div>`).join('')}</div>
${chart('Availability over time (share of requests that succeeded, per bucket)', avail, r, { yMax: 100, unit: '%', color: '#1a7f37' })}
${chart('p99 latency over time', lat, r, { unit: ' ms', color: '#0969da' })}
<h2>Incidents</h2>
<table><thead><tr><th>#</th><th>injected (UTC)</th><th>fault</th><th>target</th><th>time to detect</th><th>time to recover</th><th>time to restore</th><th>failed requests</th></tr></thead><tbody>${rows || '<tr><td colspan="8">no fault injected</td></tr>'}</tbody></table>
<p class="sub">Time to recover: fault → the first successful request after the incident's last failure ("masked": no client saw it). Time to restore: fault → the replacement is healthy. Shaded spans on the charts are outages.</p>
</body></html>
`;
}
