import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Journal } from '../../src/recovery/index.js';
import { bundleFixture, Lines } from '../support/bundle.js';
import { readAll } from './journal-conformance.js';

export type Value = { w: number; n: number; pad: string };

let fixture: { file: string; cleanup: () => void };
/** Bundles the writer fixture before the file's tests, removes it after. */
export function useWriterFixture(): void {
  beforeAll(async () => {
    fixture = await bundleFixture(path.join(import.meta.dirname, 'fixtures/journal-writer.ts'));
  });
  afterAll(() => fixture?.cleanup());
}

/** A writer child: 32 concurrent appenders; every "ack" line it printed is an acknowledged append. */
export function startWriter(kind: 'file' | 'redis', where: string, name: string, pauseMs = 0) {
  const child = spawn(process.execPath, [fixture.file, kind, where, name, String(pauseMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked = new Map<number, { w: number; n: number }>();
  let stderr = '';
  const waiters: { n: number; resolve: () => void }[] = [];
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines = new Lines((line) => {
    const m = /^ack (\d+) (\d+) (\d+)$/.exec(line);
    if (m) acked.set(Number(m[1]), { w: Number(m[2]), n: Number(m[3]) });
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    lines.feed(chunk);
    for (const w of [...waiters]) if (acked.size >= w.n) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  });
  return {
    child,
    acked,
    waitForAcks: (n: number) =>
      new Promise<void>((resolve, reject) => {
        if (acked.size >= n) return resolve();
        const timer = setTimeout(() => reject(new Error(`writer made ${acked.size} of ${n} acks in 30 s; stderr: ${stderr}`)), 30_000);
        waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
        child.once('exit', (code, signal) => signal !== 'SIGKILL' && reject(new Error(`writer exited with ${code}: ${stderr}`)));
      }),
  };
}

export const killAndWait = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every acknowledged seq is there, once, in order, with the content that was acknowledged. */
export async function expectEveryAckRead(journal: Journal<Value>, acked: Map<number, { w: number; n: number }>, after = 0): Promise<number> {
  const back = await readAll(journal, after);
  const problems: string[] = [];
  for (let i = 1; i < back.length; i++) if (back[i]!.seq <= back[i - 1]!.seq) problems.push(`seq ${back[i]!.seq} after ${back[i - 1]!.seq}`);
  const bySeq = new Map(back.map((r) => [r.seq, r.value]));
  for (const [seq, { w, n }] of acked) {
    const v = bySeq.get(seq);
    if (v === undefined) problems.push(`acknowledged seq ${seq} is missing`);
    else if (v.w !== w || v.n !== n || v.pad !== `${w}:${n}:`.padEnd(100, '.')) problems.push(`seq ${seq} holds ${JSON.stringify(v)}, not writer ${w}'s append ${n}`);
  }
  expect(problems.slice(0, 10)).toEqual([]);
  return back.length;
}

