import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { processRuns } from '../core/process.js';

/** Data folders of demo runs are named so; each holds its supervisor's pid. */
export const DEMO_DIR_PREFIX = 'steadfast-demo-';
const PID_FILE = 'supervisor.pid';

/** Marks a demo data folder as this process's, for a later run's sweep. */
export function claimDemoDir(dir: string): void {
  writeFileSync(path.join(dir, PID_FILE), String(process.pid));
}

/** Demo nodes (by their command line) whose configuration names `dir`: Linux's /proc only. */
function nodesUsing(dir: string): number[] {
  if (!existsSync('/proc/self/environ')) return [];
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (!cmdline.includes('demo-node')) continue;
      if (readFileSync(`/proc/${name}/environ`, 'utf8').includes(JSON.stringify(dir).slice(1, -1))) out.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

/**
 * Removes what earlier demo runs left behind when their supervisor and its reaper were both
 * killed: each data folder whose supervisor no longer runs, after SIGKILLing any demo node still
 * using it (a SIGSTOPped node would otherwise hold its port forever). Returns the folders removed.
 */
export function sweepDemoLeftovers(tmp = os.tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(tmp);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(DEMO_DIR_PREFIX)) continue;
    const dir = path.join(tmp, name);
    let pid: number;
    try {
      if (!statSync(dir).isDirectory()) continue;
      pid = Number(readFileSync(path.join(dir, PID_FILE), 'utf8'));
    } catch {
      continue; // not marked: not ours to judge
    }
    if (!Number.isInteger(pid) || pid <= 0 || processRuns(pid)) continue;
    for (const node of nodesUsing(dir)) {
      try {
        process.kill(node, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}
