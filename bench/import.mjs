#!/usr/bin/env node
// What a service pays to use steadfast before it does anything: the time of `await import(…)`
// in a fresh process for the root and each subpath, next to cockatiel 3.2.1's and opossum 9's
// root, and what a consumer's production install brings (packages, bytes). Each package is
// installed into a fresh project of its own, as a user would (steadfast from `npm pack`);
// imports are timed in fresh processes, interleaved, medians of --rounds (default 9).
// Usage: npm run bench:import [-- --rounds 9]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const rounds = Number(flag('rounds', 9));
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(path.join(os.tmpdir(), 'steadfast-bench-import-'));

function project(name, spec) {
  const dir = path.join(work, name);
  execFileSync('mkdir', ['-p', dir]);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `bench-${name}`, version: '1.0.0', type: 'module', private: true }));
  execFileSync('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', spec], { cwd: dir, stdio: 'ignore' });
  return dir;
}

function footprint(dir) {
  const nm = path.join(dir, 'node_modules');
  let packages = 0;
  for (const n of readdirSync(nm)) {
    if (n.startsWith('.')) continue;
    packages += n.startsWith('@') ? readdirSync(path.join(nm, n)).length : 1;
  }
  let bytes = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) bytes += statSync(p).size;
    }
  };
  walk(nm);
  return { packages, bytes };
}

function importMs(dir, spec) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `const t = performance.now(); await import(${JSON.stringify(spec)}); console.log(performance.now() - t);`], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`import ${spec}: ${r.stderr}`);
  return Number(r.stdout.trim());
}

try {
  process.stderr.write('bench:import installing …\n');
  const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop();
  const sf = project('steadfast', path.join(work, tarball));
  const ck = project('cockatiel', 'cockatiel@3.2.1');
  const op = project('opossum', 'opossum@9.0.0');
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const subpaths = Object.keys(pkg.exports).filter((k) => k !== './package.json' && k !== '.').map((k) => `steadfast/${k.slice(2)}`);
  const targets = [
    ['steadfast', sf, 'steadfast'],
    ...subpaths.map((s) => [s, sf, s]),
    ['cockatiel 3.2.1', ck, 'cockatiel'],
    ['opossum 9.0.0', op, 'opossum'],
  ];
  const times = Object.fromEntries(targets.map(([n]) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    process.stderr.write(`\rbench:import round ${r + 1}/${rounds} …   `);
    for (const [name, dir, spec] of targets) times[name].push(importMs(dir, spec));
  }
  process.stderr.write('\n');
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const anchor = median(times['cockatiel 3.2.1']);
  const size = (b) => `${(b / 1024 / 1024).toFixed(1)} MB`;
  const fp = { steadfast: footprint(sf), cockatiel: footprint(ck), opossum: footprint(op) };
  const lines = [
    `Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; each package installed alone into a fresh project (--omit=dev); \`await import()\` timed inside ${rounds} fresh processes per target, interleaved, medians.`,
    `Command: npm run bench:import -- --rounds ${rounds}`,
    '',
    '| import | ms (median) | × cockatiel |',
    '| --- | ---: | ---: |',
    ...targets.map(([n]) => `| \`${n}\` | ${median(times[n]).toFixed(1)} | ${(median(times[n]) / anchor).toFixed(2)} |`),
    '',
    '| production install of | packages | size on disk |',
    '| --- | ---: | ---: |',
    `| steadfast (no optional backend) | ${fp.steadfast.packages} | ${size(fp.steadfast.bytes)} |`,
    `| cockatiel 3.2.1 | ${fp.cockatiel.packages} | ${size(fp.cockatiel.bytes)} |`,
    `| opossum 9.0.0 | ${fp.opossum.packages} | ${size(fp.opossum.bytes)} |`,
  ];
  console.log(lines.join('\n'));
} finally {
  rmSync(work, { recursive: true, force: true });
}
