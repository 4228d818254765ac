/**
 * steadfast as a user gets it: `npm pack`, then `npm install` of the tarball into a fresh
 * project with production dependencies only (no optional backend), and then what a user does
 * first — import each entry point (ESM and require), compile against the types with each module
 * resolution TypeScript offers, run the README's examples, and use a backend that is not installed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = process.cwd();
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
const SUBPATHS = Object.keys(pkg.exports).filter((k) => k !== './package.json').map((k) => (k === '.' ? 'steadfast' : `steadfast/${k.slice(2)}`));
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');

let dir: string;
const run = (args: string[], opts: { cwd?: string; input?: string } = {}) =>
  spawnSync(args[0]!, args.slice(1), { cwd: opts.cwd ?? dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_OPTIONS: '' } });

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-consumer-'));
  // `npm pack` runs the build (prepare) and packs what `files` lists, as `npm publish` would.
  const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 }).trim().split('\n').pop()!;
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
  execFileSync('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', path.join(dir, packed)], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
}, 300_000);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every package folder under node_modules (scoped ones counted one by one). */
function installedPackages(): string[] {
  const nm = path.join(dir, 'node_modules');
  const out: string[] = [];
  for (const name of readdirSync(nm)) {
    if (name.startsWith('.')) continue;
    if (name.startsWith('@')) for (const sub of readdirSync(path.join(nm, name))) out.push(`${name}/${sub}`);
    else out.push(name);
  }
  return out.sort();
}

describe('the packed package in a fresh project, production dependencies only', () => {
  it('brings at most 8 packages, and no backend client', () => {
    const pkgs = installedPackages();
    expect(pkgs.length, pkgs.join(', ')).toBeLessThanOrEqual(8);
    for (const backend of ['ioredis', 'etcd3', '@grpc/grpc-js', 'protobufjs', 'cockatiel']) expect(pkgs).not.toContain(backend);
  });

  it.each(SUBPATHS)('imports %s with import and with require, loading no package and starting nothing', (spec) => {
    // Resources left once the import has settled: timers, sockets, servers (not the loader's own
    // file requests).
    const probe = `const own = () => process.getActiveResourcesInfo().filter((r) => !/^(FSReq|CloseReq)/.test(r));
      const before = own().length;
      const m = await import('${spec}');
      await new Promise((r) => setTimeout(r, 20));
      const loaded = Object.keys((await import('node:module')).createRequire(import.meta.url).cache ?? {}).filter((f) => f.includes('node_modules') && !f.includes('/steadfast/'));
      console.log(JSON.stringify({ exports: Object.keys(m).length, loaded, handles: own().length - before }));`;
    const esm = run([process.execPath, '--input-type=module', '-e', probe]);
    expect(esm.status, esm.stderr).toBe(0);
    const r = JSON.parse(esm.stdout) as { exports: number; loaded: string[]; handles: number };
    expect(r.exports).toBeGreaterThan(0);
    expect(r.loaded).toEqual([]);
    expect(r.handles).toBe(0);
    const cjs = run([process.execPath, '-e', `const m = require('${spec}'); if (Object.keys(m).length === 0) process.exit(3);`]);
    expect(cjs.status, cjs.stderr).toBe(0);
  });

  it.each([
    ['node16', { module: 'node16', moduleResolution: 'node16' }],
    ['nodenext', { module: 'nodenext', moduleResolution: 'nodenext' }],
    ['bundler', { module: 'esnext', moduleResolution: 'bundler' }],
  ])('type-checks an import of every entry point with moduleResolution %s', (name, options) => {
    const sub = path.join(dir, `types-${name}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(
      path.join(sub, 'check.ts'),
      [
        ...SUBPATHS.map((s, i) => `import * as m${i} from '${s}';`),
        `import { retry, type RetryOptions } from 'steadfast/policy';`,
        `import type { CheckpointStore } from 'steadfast/recovery';`,
        `const o: RetryOptions = { maxAttempts: 2 };`,
        `export const p = retry(o);`,
        `export type S = CheckpointStore;`,
        `export const all = [${SUBPATHS.map((_, i) => `m${i}`).join(', ')}];`,
      ].join('\n'),
    );
    writeFileSync(path.join(sub, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(path.join(sub, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...options, target: 'es2022', strict: true, noEmit: true, types: ['node'], typeRoots: [path.join(ROOT, 'node_modules/@types')] }, files: ['check.ts'] }));
    const r = run([process.execPath, TSC, '-p', sub]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it("runs the README's examples as programs", () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    const ex = path.join(dir, 'examples');
    mkdirSync(ex, { recursive: true });
    writeFileSync(path.join(ex, 'package.json'), JSON.stringify({ type: 'module' }));
    const files = blocks.map((b, i) => {
      const f = `example-${i + 1}.ts`;
      writeFileSync(path.join(ex, f), `${b}\nexport {};\n`);
      return f;
    });
    writeFileSync(path.join(ex, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, outDir: 'out', types: ['node'], typeRoots: [path.join(ROOT, 'node_modules/@types')] }, files }));
    const built = run([process.execPath, TSC, '-p', ex]);
    expect(built.status, built.stdout + built.stderr).toBe(0);
    for (const f of files) {
      const r = run([process.execPath, path.join(ex, 'out', f.replace(/\.ts$/, '.js'))], { cwd: ex });
      expect(r.status, `${f}: ${r.stderr}`).toBe(0);
    }
  });

  it('names the missing optional backend and the command that installs it', () => {
    const cases = [
      [`import('steadfast/recovery').then((m) => new m.RedisCheckpointStore({ url: 'redis://127.0.0.1:1' }))`, /RedisCheckpointStore needs the package 'ioredis'.*: npm install ioredis/],
      [`import('steadfast/registry').then((m) => new m.EtcdRegistry({ endpoints: ['http://127.0.0.1:1'] }))`, /EtcdRegistry needs the package 'etcd3'.*: npm install etcd3/],
      [`import('steadfast').then((m) => m.elect({ backend: 'redis', url: 'redis://127.0.0.1:1', name: 'n', candidateId: 'c' }))`, /needs the package 'ioredis'.*: npm install ioredis/],
    ] as const;
    for (const [code, message] of cases) {
      const r = run([process.execPath, '--input-type=module', '-e', `${code}.catch((e) => { console.error(e.code + ': ' + e.message); process.exit(1); })`]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^ERR_MISSING_DEPENDENCY: /);
      expect(r.stderr).toMatch(message);
    }
    const cli = run([path.join(dir, 'node_modules/.bin/steadfast'), 'demo', '--store', 'redis://127.0.0.1:1', '--duration', '5']);
    expect(cli.status).toBe(1);
    expect(cli.stderr).toMatch(/^steadfast: the demo with --store redis:\/\/127\.0\.0\.1:1 needs the package 'ioredis', an optional peer dependency of steadfast that is not installed: npm install ioredis$/m);
  });
});
