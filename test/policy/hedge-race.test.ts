import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { hedgeRace, type RaceEntry } from '../../src/policy/hedge.js';

/**
 * Scripted tries: each candidate answers `ok` or `fail` after `at` ms of clock time, or never
 * (`hang`). The race runs on a ManualClock advanced 1 ms at a time; the log says when each try
 * started, ended or was cancelled.
 */
type Script = Record<string, { at: number; then: 'ok' | 'fail' | 'bad' } | 'hang'>;

async function play(script: Script, options: { want?: number; delayMs?: number; budget?: number; abortAt?: number; until?: number } = {}) {
  const clock = new ManualClock();
  const log: string[] = [];
  const ac = new AbortController();
  let budget = options.budget ?? Infinity;
  const race = hedgeRace<string, string>({
    candidates: Object.keys(script),
    want: options.want ?? 1,
    delayMs: options.delayMs ?? 10,
    clock,
    signal: ac.signal,
    mayStart: (index, cause: RaceEntry<string, string> | undefined) => {
      if (budget <= 0) {
        log.push(`${clock.now()} hold ${index}`);
        return false;
      }
      budget--;
      log.push(`${clock.now()} ${cause === undefined ? 'hedge' : `after ${cause.candidate}`}`);
      return true;
    },
    start: (name) => {
      log.push(`${clock.now()} start ${name}`);
      const s = script[name]!;
      let timer: ReturnType<ManualClock['setTimeout']> | undefined;
      const result = new Promise<string>((resolve, reject) => {
        if (s === 'hang') return;
        timer = clock.setTimeout(() => (s.then === 'fail' ? reject(new Error(`${name} failed`)) : resolve(s.then === 'bad' ? `${name}:bad` : name)), s.at);
      });
      return { result, cancel: () => { log.push(`${clock.now()} cancel ${name}`); if (timer !== undefined) clock.clearTimeout(timer); } };
    },
    accept: (v) => !v.endsWith(':bad'),
  });
  let outcome: Awaited<typeof race> | undefined;
  void race.then((o) => (outcome = o));
  for (let t = 0; t <= (options.until ?? 100) && outcome === undefined; t++) {
    if (t === options.abortAt) ac.abort();
    await new Promise((r) => setImmediate(r));
    if (outcome === undefined) clock.advance(1);
  }
  return { outcome: outcome!, log, summary: outcome && { won: outcome.won.map((w) => w.candidate), lost: outcome.lost.map((l) => l.candidate), started: outcome.started, aborted: outcome.aborted } };
}

describe('hedgeRace (the one hedging engine)', () => {
  const rows: { name: string; script: Script; want?: number; budget?: number; abortAt?: number; won: string[]; lost: string[]; started: number; aborted?: boolean; log?: string[] }[] = [
    { name: 'a fast first answer: nothing else starts', script: { a: { at: 3, then: 'ok' }, b: { at: 1, then: 'ok' } }, won: ['a'], lost: [], started: 1, log: ['0 start a'] },
    { name: 'no answer for delayMs: the next starts as well, the first answer wins, the other is cancelled', script: { a: 'hang', b: { at: 2, then: 'ok' } }, won: ['b'], lost: [], started: 2, log: ['0 start a', '10 hedge', '10 start b', '12 cancel a'] },
    { name: 'a failure starts the next at once', script: { a: { at: 2, then: 'fail' }, b: { at: 1, then: 'ok' } }, won: ['b'], lost: ['a'], started: 2, log: ['0 start a', '2 after a', '2 start b'] },
    { name: 'a value accept() refuses counts as a failure and is kept', script: { a: { at: 1, then: 'bad' }, b: { at: 1, then: 'bad' } }, won: [], lost: ['a', 'b'], started: 2 },
    { name: 'every try fails: the race ends with all of them lost', script: { a: { at: 1, then: 'fail' }, b: { at: 1, then: 'fail' }, c: { at: 1, then: 'fail' } }, won: [], lost: ['a', 'b', 'c'], started: 3 },
    { name: 'quorum: want 2 start at once, a failure moves on to the third', want: 2, script: { a: { at: 1, then: 'fail' }, b: { at: 4, then: 'ok' }, c: { at: 1, then: 'ok' } }, won: ['c', 'b'], lost: ['a'], started: 3, log: ['0 start a', '0 start b', '1 after a', '1 start c'] },
    { name: 'quorum: a slow replica is hedged, the quorum ends on the first two answers', want: 2, script: { a: { at: 1, then: 'ok' }, b: 'hang', c: { at: 1, then: 'ok' } }, won: ['a', 'c'], lost: [], started: 3, log: ['0 start a', '0 start b', '10 hedge', '10 start c', '11 cancel b'] },
    { name: 'quorum: too few answers ends when nothing is left to try', want: 2, script: { a: { at: 1, then: 'ok' }, b: { at: 1, then: 'fail' } }, won: ['a'], lost: ['b'], started: 2 },
    { name: 'a start held back with nothing running ends the race (no wait forever)', budget: 0, script: { a: { at: 1, then: 'fail' }, b: { at: 1, then: 'ok' } }, won: [], lost: ['a'], started: 1, log: ['0 start a', '1 hold 1'] },
    { name: 'a held hedge is asked again on the next failure', budget: 0, script: { a: { at: 15, then: 'fail' }, b: { at: 1, then: 'ok' } }, won: [], lost: ['a'], started: 1, log: ['0 start a', '10 hold 1', '15 hold 1'] },
    { name: 'abort ends the race at once and cancels what runs', abortAt: 5, script: { a: 'hang', b: 'hang' }, won: [], lost: [], started: 1, aborted: true, log: ['0 start a', '5 cancel a'] },
  ];
  for (const row of rows) {
    it(row.name, async () => {
      const { summary, log } = await play(row.script, { ...(row.want ? { want: row.want } : {}), ...(row.budget !== undefined ? { budget: row.budget } : {}), ...(row.abortAt !== undefined ? { abortAt: row.abortAt } : {}) });
      expect(summary).toEqual({ won: row.won, lost: row.lost, started: row.started, aborted: row.aborted ?? false });
      if (row.log) expect(log).toEqual(row.log);
    });
  }

  it('an already aborted signal starts nothing', async () => {
    const ac = new AbortController();
    ac.abort();
    let starts = 0;
    const o = await hedgeRace({ candidates: ['a'], delayMs: 1, clock: new ManualClock(), signal: ac.signal, start: () => (starts++, { result: Promise.resolve(1), cancel: () => {} }) });
    expect([o.aborted, o.started, starts]).toEqual([true, 0, 0]);
  });

  it('no candidates: ends at once with nothing won', async () => {
    const o = await hedgeRace({ candidates: [], delayMs: 1, clock: new ManualClock(), start: () => ({ result: Promise.resolve(1), cancel: () => {} }) });
    expect(o).toEqual({ won: [], lost: [], started: 0, aborted: false });
  });

  it('a start that throws is a failure of that try', async () => {
    const o = await hedgeRace<string, number>({ candidates: ['a', 'b'], delayMs: 1, clock: new ManualClock(), start: (c) => { if (c === 'a') throw new Error('bad a'); return { result: Promise.resolve(2), cancel: () => {} }; } });
    expect([o.won.map((w) => w.value), (o.lost[0]!.error as Error).message]).toEqual([[2], 'bad a']);
  });
});
