import type { HashRing } from '../hashing/ring.js';

/** What the dashboard draws of the ring: each node's share, 180 segments by owner, where a few keys live. */
/** The ring as the dashboard draws it: each node's share, 180 owner segments, sample preference lists. */
export interface RingView {
  shares: Record<string, number>;
  segments: string[];
  replicas: number;
  sample: { key: string; owners: string[] }[];
}

export function ringSummary(ring: HashRing, replicas: number): RingView {
  const shares: Record<string, number> = {};
  const arcs = ring.arcs();
  for (const a of arcs) shares[a.node] = (shares[a.node] ?? 0) + a.length / 2 ** 32;
  const segments: string[] = [];
  let k = 0;
  for (let s = 0; s < 180; s++) {
    const mid = ((s + 0.5) / 180) * 2 ** 32;
    while (k < arcs.length && arcs[k]!.end < mid) k++;
    segments.push(arcs[k < arcs.length ? k : 0]!.node);
  }
  return { shares, segments, replicas, sample: ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'].map((key) => ({ key, owners: ring.lookupN(key, replicas) })) };
}

/**
 * The demo's live dashboard: one self-contained page (no external files, so it works offline)
 * that polls `/_steadfast/state` every second and draws the processes, the ring, the leader and
 * charts of throughput, errors and p99 latency with the incidents marked.
 */
export function dashboardHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>steadfast demo — live</title>
<style>
  :root { font: 14px/1.4 system-ui, sans-serif; color: #1d1d1f; background: #f6f7f9; }
  body { margin: 0; padding: 16px 24px; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  .sub { color: #666; margin-bottom: 12px; }
  .grid { display: grid; grid-template-columns: 1.4fr 1fr; gap: 16px; }
  .card { background: #fff; border-radius: 8px; padding: 12px 14px; box-shadow: 0 1px 2px #0001; }
  .figures { display: flex; gap: 24px; flex-wrap: wrap; }
  .figure b { display: block; font-size: 22px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #eee; font-variant-numeric: tabular-nums; }
  .st { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; color: #fff; }
  .passing { background: #2f9e44; } .critical { background: #e8590c; } .down { background: #c92a2a; } .paused { background: #7048e8; }
  .charts svg { width: 100%; height: 150px; display: block; }
  #incidents { max-height: 220px; overflow: auto; padding-left: 18px; margin: 0; }
  .leader { font-weight: 600; color: #1864ab; }
  .muted { color: #888; }
</style>
</head>
<body>
<h1>steadfast — a web app + database under injected faults</h1>
<div class="sub" id="config">connecting…</div>
<div class="card figures" id="figures">
  <div class="figure">requests<b id="requests">—</b></div>
  <div class="figure">failed<b id="failed">—</b></div>
  <div class="figure">availability<b id="availability">—</b></div>
  <div class="figure">writes acknowledged<b id="acked">—</b></div>
  <div class="figure">faults injected<b id="faults">—</b></div>
  <div class="figure">degraded reads<b id="degraded">—</b></div>
  <div class="figure">maintenance leader<b id="leader" class="leader">—</b></div>
</div>
<div class="grid" style="margin-top:16px">
  <div class="card">
    <h2>Processes</h2>
    <table id="processes"><thead><tr><th>process</th><th>health</th><th>pid</th><th>restarts</th><th>data / role</th></tr></thead><tbody></tbody></table>
    <h2 style="margin-top:12px">Tiers</h2>
    <table id="tiers"><thead><tr><th>tier</th><th>processes</th><th>faults</th><th>restarts</th><th>shed at its door</th></tr></thead><tbody></tbody></table>
  </div>
  <div class="card">
    <h2>Consistent-hash ring (R = <span id="r">?</span>)</h2>
    <div id="ring"></div>
    <div id="owners" class="muted"></div>
  </div>
</div>
<div class="card charts" style="margin-top:16px">
  <h2>Throughput (req/s)</h2><div id="chart-throughput"></div>
  <h2>Errors (failed req/s)</h2><div id="chart-errors"></div>
  <h2>p99 latency (ms)</h2><div id="chart-latency"></div>
</div>
<div class="card" style="margin-top:16px">
  <h2>Incidents</h2>
  <ol id="incidents"></ol>
</div>
<script>
const COLORS = ['#1c7ed6', '#f08c00', '#2f9e44', '#ae3ec9', '#e03131', '#0c8599', '#5c940d', '#d6336c', '#495057'];
const color = (name, names) => COLORS[Math.max(0, names.indexOf(name)) % COLORS.length];
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function chart(el, series, key, incidents, stroke) {
  const W = 900, H = 150, P = 34;
  const n = series.length;
  if (n === 0) { el.innerHTML = '<span class="muted">waiting for the first second of load…</span>'; return; }
  const t0 = series[0].t, t1 = Math.max(series[n - 1].t + 1, t0 + 1, ...incidents.map((i) => Math.ceil(i.t)));
  const max = Math.max(1, ...series.map((p) => p[key])) * 1.15;
  const x = (t) => P + ((t - t0) / (t1 - t0)) * (W - 2 * P);
  const y = (v) => H - 20 - (v / max) * (H - 36);
  const d = series.map((p, i) => (i ? 'L' : 'M') + x(p.t).toFixed(1) + ',' + y(p[key]).toFixed(1)).join(' ');
  const marks = incidents.filter((i) => i.t >= t0 && i.t <= t1).map((i) =>
    '<line x1="' + x(i.t).toFixed(1) + '" x2="' + x(i.t).toFixed(1) + '" y1="10" y2="' + (H - 20) + '" stroke="#e03131" stroke-dasharray="3,3"/>' +
    '<text x="' + (x(i.t) + 3).toFixed(1) + '" y="12" font-size="10" fill="#e03131">#' + i.id + ' ' + esc(i.kind) + ' ' + esc(i.target) + '</text>').join('');
  el.innerHTML = '<svg viewBox="0 0 ' + W + ' ' + H + '" role="img" aria-label="' + key + '">' +
    '<line x1="' + P + '" x2="' + (W - P) + '" y1="' + y(0) + '" y2="' + y(0) + '" stroke="#ddd"/>' +
    '<text x="2" y="' + (y(max / 1.15) + 4).toFixed(1) + '" font-size="10" fill="#888">' + Math.round(max / 1.15) + '</text>' +
    '<text x="2" y="' + (y(0) + 4) + '" font-size="10" fill="#888">0</text>' + marks +
    '<path d="' + d + '" fill="none" stroke="' + stroke + '" stroke-width="2"/>' +
    '<text x="' + (W - P) + '" y="' + (H - 4) + '" font-size="10" fill="#888" text-anchor="end">' + t1 + ' s</text></svg>';
}

function ring(el, r, procs) {
  const names = Object.keys(r.shares).sort();
  const cx = 110, cy = 110, R1 = 100, R0 = 70;
  const seg = r.segments.map((node, i) => {
    const a0 = (i / r.segments.length) * 2 * Math.PI - Math.PI / 2, a1 = ((i + 1) / r.segments.length) * 2 * Math.PI - Math.PI / 2;
    const p = (a, rad) => (cx + rad * Math.cos(a)).toFixed(1) + ',' + (cy + rad * Math.sin(a)).toFixed(1);
    const st = procs.find((q) => q.name === node)?.status ?? 'passing';
    return '<path d="M' + p(a0, R0) + ' L' + p(a0, R1) + ' A' + R1 + ',' + R1 + ' 0 0 1 ' + p(a1, R1) + ' L' + p(a1, R0) + ' A' + R0 + ',' + R0 + ' 0 0 0 ' + p(a0, R0) + 'Z" fill="' + color(node, names) + '" opacity="' + (st === 'passing' ? 1 : 0.25) + '"/>';
  }).join('');
  const legend = names.map((n, i) => '<text x="240" y="' + (40 + i * 20) + '" font-size="12" fill="' + color(n, names) + '">■ ' + esc(n) + ' ' + (r.shares[n] * 100).toFixed(1) + ' %</text>').join('');
  el.innerHTML = '<svg viewBox="0 0 380 220" width="100%" role="img" aria-label="ring">' + seg + legend + '</svg>';
  $('owners').innerHTML = 'where keys live (preference list): ' + r.sample.map((s) => esc(s.key) + ' → ' + s.owners.map(esc).join(', ')).join(' · ');
}

function detailText(p) {
  const d = p.detail || {};
  if (p.role === 'db') return (d.items ?? '?') + ' items · checkpoint #' + ((d.checkpoint && d.checkpoint.lastId) ?? '—') + (d.caughtUpItems ? ' · caught up ' + d.caughtUpItems : '');
  if (p.role === 'etcd') return d.health ? 'member of a cluster with a leader' : 'no answer, or no leader';
  if (p.role === 'registry') return 'index ' + (d.index ?? '—') + ' · ' + (d.services ?? '?') + ' services';
  if (p.role === 'gateway') return ((d.route && d.route.requests) ?? 0) + ' requests · ' + ((d.route && d.route.retries) ?? 0) + ' retries · ' + ((d.route && d.route.shed) ?? 0) + ' shed · limit ' + ((d.route && d.route.limit) ?? '—');
  return (d.leader ? '<span class="leader">leader (token ' + d.fencingToken + ')</span> · ' : '') + (d.requests ?? 0) + ' requests';
}

async function tick() {
  try {
    const s = await (await fetch('state', { cache: 'no-store' })).json();
    const c = s.config;
    $('config').textContent = c.dbNodes + ' db nodes (R = ' + c.replicas + ', W = ' + c.writeQuorum + ') · ' + c.webNodes + ' web replicas · ' + c.gateways + ' gateways · registry ' + c.registry + ' · store ' + c.store + ' · ' + c.ratePerSec + ' req/s · seed ' + c.seed + (c.chaos ? ' · chaos on' : ' · chaos off') +
      (s.startedAt ? ' · ' + Math.round((s.now - s.startedAt) / 1000) + ' / ' + Math.round(s.durationMs / 1000) + ' s' : '');
    $('requests').textContent = s.totals.requests;
    $('failed').textContent = s.totals.failed;
    $('availability').textContent = (s.totals.availability * 100).toFixed(3) + ' %';
    $('acked').textContent = s.totals.acknowledged + ' / ' + s.totals.writes;
    $('faults').textContent = s.incidents.length;
    $('degraded').textContent = s.totals.degradedReads;
    $('tiers').tBodies[0].innerHTML = s.tiers.map((t) => '<tr data-tier="' + esc(t.role) + '"><td>' + esc(t.role) + '</td><td>' + t.processes + '</td><td>' + t.faults + '</td><td>' + t.restarts + '</td><td>' + t.shed + '</td></tr>').join('');
    $('leader').textContent = s.leader ? s.leader.leader + ' (token ' + s.leader.token + ')' : '—';
    $('r').textContent = s.ring.replicas;
    const names = s.processes.map((p) => p.name);
    $('processes').tBodies[0].innerHTML = s.processes.map((p) => '<tr data-process="' + esc(p.name) + '"><td>' + esc(p.name) + '</td><td><span class="st ' + p.status + '">' + p.status + '</span></td><td>' + (p.pid ?? '—') + '</td><td>' + p.restarts + '</td><td>' + detailText(p) + '</td></tr>').join('') +
      // The load's client: a process of its own, the one that measures, so never faulted.
      (s.client ? '<tr data-process="client"><td>load&#39;s client</td><td><span class="st passing">running</span></td><td>' + (s.client.pid ?? '—') + '</td><td>—</td><td>' + c.ratePerSec + ' req/s over ' + c.gateways + ' gateway' + (c.gateways === 1 ? '' : 's') + ', hedged and failed over between them; not faulted</td></tr>' : '');
    ring($('ring'), s.ring, s.processes);
    chart($('chart-throughput'), s.series, 'requests', s.incidents, '#1c7ed6');
    chart($('chart-errors'), s.series, 'failed', s.incidents, '#e03131');
    chart($('chart-latency'), s.series, 'p99', s.incidents, '#f08c00');
    $('incidents').innerHTML = s.incidents.slice().reverse().map((i) => '<li>#' + i.id + ' ' + esc(i.kind) + ' <b>' + esc(i.target) + '</b> at ' + i.t.toFixed(1) + ' s — detected ' + (i.detectedMs === null ? '…' : i.detectedMs + ' ms') + ', restored ' + (i.restoredMs === null ? '…' : i.restoredMs + ' ms') + '</li>').join('') || '<li class="muted">none yet</li>';
    document.body.dataset.updated = String(s.now);
  } catch (err) {
    $('config').textContent = 'lost contact with the demo (' + err + '); retrying…';
  }
}
tick();
setInterval(tick, 1000);
</script>
</body>
</html>
`;
}
