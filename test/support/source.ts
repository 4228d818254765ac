import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** Every .ts file under src/, with its path relative to src/ and its text (for tests that check the code's own contracts). */
export function sourceFiles(): { file: string; text: string }[] {
  const root = path.join(import.meta.dirname, '../../src');
  const out: { file: string; text: string }[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = path.join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) out.push({ file: path.relative(root, p), text: readFileSync(p, 'utf8') });
    }
  };
  walk(root);
  return out;
}
