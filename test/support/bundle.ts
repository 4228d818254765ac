import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

/**
 * Bundles a TypeScript fixture into one .mjs inside node_modules (so it resolves the project's
 * dependencies), for child processes that must start in milliseconds — tests spawn many.
 */
export async function bundleFixture(entry: string): Promise<{ file: string; cleanup: () => void }> {
  const dir = mkdtempSync(path.join(process.cwd(), 'node_modules', '.steadfast-fixture-'));
  const file = path.join(dir, `${path.basename(entry, '.ts')}.mjs`);
  await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: file, packages: 'external', logLevel: 'silent' });
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A child process's stdout, line by line, with a way to wait for a line. */
export class Lines {
  readonly all: string[] = [];
  private waiters: { re: RegExp; from: number; resolve: (m: RegExpExecArray) => void }[] = [];
  private buffer = '';

  /** `onLine` sees each complete line as it comes. */
  constructor(private readonly onLine?: (line: string) => void) {}

  feed(chunk: Buffer | string): void {
    this.buffer += chunk.toString();
    const parts = this.buffer.split('\n');
    this.buffer = parts.pop()!;
    for (const line of parts) {
      this.all.push(line);
      this.onLine?.(line);
      for (const w of [...this.waiters]) {
        const m = w.re.exec(line);
        if (m && this.all.length - 1 >= w.from) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    }
  }

  /** Resolves with the first line matching `re` at or after line `from` (default: any line, past or future). */
  waitFor(re: RegExp, timeoutMs = 15_000, from = 0): Promise<RegExpExecArray> {
    for (let i = from; i < this.all.length; i++) {
      const m = re.exec(this.all[i]!);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; saw:\n${this.all.slice(-20).join('\n')}`)), timeoutMs);
      this.waiters.push({
        re,
        from,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }
}
