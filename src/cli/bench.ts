import { packageRoot } from './package-root.js';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';

const SUITES = ['policy', 'checkpoint', 'hashing', 'detection', 'registry', 'gateway', 'chaos', 'demo'] as const;

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('Run a benchmark against the anchors (cockatiel, opossum, ...) and print a table of ratios. Needs a source checkout with devDependencies installed.')
    .argument('<suite>', `one of: ${SUITES.join(', ')}`, (v: string) => {
      if (!(SUITES as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${SUITES.join(', ')}, got '${v}'`);
      return v;
    })
    .allowUnknownOption(false)
    .action(async (suite: string) => {
      const root = packageRoot() ?? process.cwd();
      const script = path.join(root, 'bench', `${suite}.mjs`);
      if (!existsSync(script)) {
        process.stderr.write(`steadfast bench: ${script} not found — benchmarks ship with the source repository, not the npm package\n`);
        process.exitCode = 1;
        return;
      }
      const child = spawn(process.execPath, [script], { stdio: 'inherit', cwd: root });
      process.exitCode = await new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
    });
}
