import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleFixture } from '../support/bundle.js';

const hasStrace = spawnSync('strace', ['-V']).status === 0;
if (!hasStrace && process.env.CI) throw new Error('strace is missing: install the Debian package strace (.ci/run does)');

interface Call {
  /** Line of the call's start and of its result (the same line unless strace split it). */
  start: number;
  end: number;
  fd: number;
  offset?: number;
  result: number;
}

/** The positioned writes (pwrite64, pwritev) or the fdatasync calls on `fd`, with where each started and ended in the trace. */
function calls(lines: string[], kind: 'write' | 'fdatasync', fd: number): Call[] {
  const out: Call[] = [];
  const open = new Map<string, Omit<Call, 'end' | 'result'>>();
  // libuv writes one buffer with pwrite64 and several with pwritev; the offset is the last argument.
  const name = kind === 'write' ? '(?:pwritev|pwrite64)' : 'fdatasync';
  const startRe = new RegExp(`^(\\d+)\\s+${name}\\(${fd}(?:, .*, (\\d+))?(\\) += (-?\\d+)| <unfinished \\.\\.\\.>)$`);
  const resumedRe = new RegExp(`^(\\d+)\\s+<\\.\\.\\. ${name} resumed>.*\\) += (-?\\d+)$`);
  lines.forEach((line, i) => {
    const s = startRe.exec(line);
    if (s) {
      const call = { start: i, fd, ...(s[2] !== undefined ? { offset: Number(s[2]) } : {}) };
      if (s[4] !== undefined) out.push({ ...call, end: i, result: Number(s[4]) });
      else open.set(s[1]!, call);
      return;
    }
    const r = resumedRe.exec(line);
    const pending = r && open.get(r[1]!);
    if (r && pending) {
      open.delete(r[1]!);
      out.push({ ...pending, end: i, result: Number(r[2]) });
    }
  });
  return out;
}

/**
 * SIGKILL keeps the page cache, so a crash test cannot tell an fdatasync from none. This one
 * watches the system calls of 64 concurrent appends: every acknowledgement must come after an
 * fdatasync of the journal that started after the write of that record's bytes ended.
 */
describe.runIf(hasStrace)('FileJournal appends, watched with strace', () => {
  let fixture: { file: string; cleanup: () => void };
  let dir: string;
  beforeAll(async () => {
    fixture = await bundleFixture(path.join(import.meta.dirname, 'fixtures/journal-fsync-writer.ts'));
    dir = mkdtempSync(path.join(os.tmpdir(), 'steadfast-strace-journal-'));
  });
  afterAll(() => {
    fixture.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every acknowledged record was written, then fdatasynced, before it was acknowledged — and syncs are shared', () => {
    const trace = path.join(dir, 'trace');
    const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=openat,fdatasync,fsync,write,pwrite64,pwritev', '-o', trace, process.execPath, fixture.file, path.join(dir, 'j')], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const lines = readFileSync(trace, 'utf8').split('\n');
    const opened = lines.map((l) => /openat\(.*journal-0000000000000001\.log", O_RDWR\|O_CLOEXEC\) = (\d+)$/.exec(l)).find((m) => m);
    expect(opened).toBeTruthy();
    const fd = Number(opened![1]);
    const writes = calls(lines, 'write', fd);
    const syncs = calls(lines, 'fdatasync', fd);
    const acks = lines.flatMap((l, i) => {
      const m = /write\(1, "acked (\d+)\\n"/.exec(l);
      return m ? [{ seq: Number(m[1]), at: i }] : [];
    });
    expect(acks.length).toBe(64);
    const RECORD = 32; // 20 bytes of header + {"i":"0001"}
    const problems: string[] = [];
    for (const ack of acks) {
      const lastByte = 16 + ack.seq * RECORD - 1;
      const write = writes.find((w) => w.result > 0 && w.offset! <= lastByte && lastByte < w.offset! + w.result);
      if (!write || write.end > ack.at) {
        problems.push(`seq ${ack.seq} acknowledged before its bytes were written`);
        continue;
      }
      if (!syncs.some((s) => s.result === 0 && s.start > write.end && s.end < ack.at)) problems.push(`seq ${ack.seq} acknowledged with no fdatasync after its write`);
    }
    expect(problems).toEqual([]);
    // Group commit: far fewer syncs than records.
    expect(syncs.length).toBeLessThan(20);
  });
});
