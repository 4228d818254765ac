#!/usr/bin/env node
// The package's build: tsc writes the type declarations (dist/**/*.d.ts), esbuild the JavaScript —
// one bundle per entry point (the root, each subpath, the CLI), with the code they share split
// into dist/chunks/ so each class exists once (instanceof holds across entry points). A bundle
// loads in a fraction of the time of ninety separate modules: see docs/benchmarks.md, "Import".
// Packages stay external (loaded from node_modules; backends only when used: src/core/packages.ts).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');
rmSync(dist, { recursive: true, force: true });

execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json'), '--emitDeclarationOnly'], { stdio: 'inherit' });

// ioredis and etcd3 are optional peers: a project without them must still compile against our
// types (with skipLibCheck off too). Their type imports get a @ts-ignore, so the types are the
// real ones where the package is installed and `any` where it is not.
const OPTIONAL_PEER_IMPORT = /^(import type .* from '(ioredis|etcd3)';)$/gm;
for (const file of walk(dist)) {
  if (!file.endsWith('.d.ts')) continue;
  const text = readFileSync(file, 'utf8');
  const marked = text.replace(OPTIONAL_PEER_IMPORT, '// @ts-ignore -- optional peer dependency: `any` when it is not installed\n$1');
  if (marked !== text) writeFileSync(file, marked);
}

// One file per library module (src/<module>/ → dist/<module>/index.js). An import that leaves
// its module for another library module is kept as an import of that module's bundle, so each
// class exists once and `steadfast/policy` loads core's and policy's files only. The CLI (with
// the demo, which is not a library entry point) is one more bundle on top.
const MODULES = readdirSync(src).filter((n) => n !== 'cli' && n !== 'demo' && existsFile(path.join(src, n, 'index.ts')));
const moduleOf = (file) => {
  const rel = path.relative(src, file);
  return rel.includes(path.sep) ? rel.split(path.sep)[0] : '';
};
const layers = {
  name: 'steadfast-layers',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      const target = path.resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts');
      const from = moduleOf(args.importer);
      const to = moduleOf(target);
      if (to === from || !MODULES.includes(to)) return undefined; // bundled into this file
      const fromDir = path.join(dist, from);
      let spec = path.relative(fromDir, path.join(dist, to, 'index.js')).split(path.sep).join('/');
      if (!spec.startsWith('.')) spec = `./${spec}`;
      return { path: spec, external: true };
    });
  },
};

await build({
  // dist/demo/system.js: the demo as a library for bench/demo.mjs (not a public entry point).
  entryPoints: [path.join(src, 'index.ts'), path.join(src, 'cli/index.ts'), path.join(src, 'demo/system.ts'), ...MODULES.map((m) => path.join(src, m, 'index.ts'))],
  outdir: dist,
  outbase: src,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  plugins: [layers],
  sourcemap: true,
  logLevel: 'warning',
});

function* walk(d) {
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

function existsFile(p) {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}
