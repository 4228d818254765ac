import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of steadfast's package.json, found by walking up from this file: the same from
 * src/ (tests), dist/ (the package) or a bundle of the CLI placed anywhere below the project.
 */
export function packageRoot(from = path.dirname(fileURLToPath(import.meta.url))): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        if ((JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'steadfast') return dir;
      } catch {
        // not JSON: keep looking
      }
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}
