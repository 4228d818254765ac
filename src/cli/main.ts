import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from './package-root.js';
import { MissingDependencyError } from '../core/packages.js';
import { Command, CommanderError } from 'commander';
import { registerBench } from './bench.js';
import { registerDemo } from './demo.js';
import { registerPolicyDemo } from './policy-demo.js';
import { registerRegistry } from './registry.js';
import { registerGateway } from './gateway.js';
import { registerToxiproxy } from './toxiproxy.js';
import { registerChaos } from './chaos.js';
import { registerReport } from './report.js';
import { registerSlo } from './slo.js';

const root = packageRoot();
const pkg = (root ? JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) : { version: 'unknown' }) as { version: string };

export function buildProgram(): Command {
  const program = new Command('steadfast')
    .description('Fault tolerance and high availability for Node.js services, measured under injected faults.')
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerDemo(program);
  registerPolicyDemo(program);
  registerRegistry(program);
  registerGateway(program);
  registerToxiproxy(program);
  registerChaos(program);
  registerReport(program);
  registerSlo(program);
  registerBench(program);
  for (const cmd of program.commands) cmd.exitOverride().showHelpAfterError('(run with --help for usage)');
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; every usage error exits 2 (its message names the flag).
      return err.exitCode === 0 ? 0 : 2;
    }
    // A missing optional package is the user's to install, not a crash: its message says how.
    if (err instanceof MissingDependencyError) {
      process.stderr.write(`steadfast: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`steadfast: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
