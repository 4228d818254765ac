import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as root from '../../src/index.js';
import * as demo from '../../src/demo/system.js';

// The package's exports, plus the demo's (its own entry, used by the CLI).
const steadfast = { ...root, ...demo };

/** Parses every `<!-- defaults: NAME -->` table of a doc into { NAME: { option: default } }. */
function defaultTables(file: string): Record<string, Record<string, string>> {
  const text = readFileSync(file, 'utf8');
  const tables: Record<string, Record<string, string>> = {};
  const re = /<!-- defaults: (\w+) -->\n((?:\|.*\|\n)+)/g;
  for (const m of text.matchAll(re)) {
    const rows = m[2]!.trim().split('\n').slice(2);
    tables[m[1]!] = Object.fromEntries(rows.map((r) => r.split('|').map((c) => c.trim())).map((c) => [c[1]!, c[2]!]));
  }
  return tables;
}

describe('the defaults tables in docs/', () => {
  const tables: Record<string, Record<string, string>> = {};
  for (const file of readdirSync('docs').filter((f) => f.endsWith('.md'))) Object.assign(tables, defaultTables(`docs/${file}`));

  it('has a defaults table for every exported *_DEFAULTS', () => {
    const exported = Object.keys(steadfast).filter((k) => k.endsWith('_DEFAULTS'));
    expect(Object.keys(tables).sort()).toEqual(exported.sort());
  });

  for (const [name, rows] of Object.entries(tables)) {
    it(`documents ${name} exactly as the code defines it`, () => {
      const defaults = (steadfast as unknown as Record<string, Record<string, unknown>>)[name];
      expect(defaults, `${name} is not exported`).toBeDefined();
      expect(Object.keys(rows).sort()).toEqual(Object.keys(defaults!).sort());
      for (const [option, value] of Object.entries(defaults!)) expect(rows[option], `${name}.${option}`).toBe(String(value));
    });
  }
});
