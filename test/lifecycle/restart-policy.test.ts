import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { ProcessChaos } from '../../src/chaos/index.js';
import { restartPolicy } from '../../src/lifecycle/index.js';

describe('restartPolicy', () => {
  // Each row: (startedAt, exitedAt) of successive starts, and the decisions.
  const rows: { name: string; options?: Parameters<typeof restartPolicy>[0]; runs: [number, number][]; expected: (number | 'give-up')[] }[] = [
    { name: 'doubles the wait on each quick crash, up to maxDelayMs', options: { initialDelayMs: 100, maxDelayMs: 500, maxRestarts: 100 }, runs: [[0, 10], [110, 120], [320, 330], [730, 740], [1300, 1310]], expected: [100, 200, 400, 500, 500] },
    { name: 'a start that lasted resetAfterMs resets the wait', options: { initialDelayMs: 100, resetAfterMs: 1000, maxRestarts: 100 }, runs: [[0, 10], [110, 120], [320, 5000], [5100, 5110]], expected: [100, 200, 100, 200] },
    { name: 'more than maxRestarts crashes within windowMs is a crash loop', options: { initialDelayMs: 0, maxRestarts: 3, windowMs: 10_000 }, runs: [[0, 1], [1, 2], [3, 4], [7, 8]], expected: [0, 2, 4, 'give-up'] },
    { name: 'crashes spread wider than windowMs never add up to a loop', options: { initialDelayMs: 0, maxRestarts: 2, windowMs: 1000, resetAfterMs: 100_000 }, runs: [[0, 1], [600, 601], [1200, 1201], [1800, 1801]], expected: [0, 2, 4, 8] },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const p = restartPolicy(row.options);
      expect(row.runs.map(([s, e]) => {
        const d = p.onExit(s, e);
        return d.action === 'restart' ? d.delayMs : 'give-up';
      })).toEqual(row.expected);
    });
  }

  it('says why it gave up', () => {
    const p = restartPolicy({ maxRestarts: 0, windowMs: 5000 });
    expect(p.onExit(0, 1)).toEqual({ action: 'give-up', restarts: 0, reason: 'crash loop: 1 exits within 5000 ms (maxRestarts 0); not restarted again' });
  });

  it('rejects bad options by name', () => {
    expect(() => restartPolicy({ multiplier: 0.5 })).toThrow(/multiplier/);
    expect(() => restartPolicy({ maxRestarts: -1 })).toThrow(/maxRestarts/);
    expect(() => restartPolicy({ backoff: 2 } as never)).toThrow(/backoff/);
  });
});

describe('ProcessChaos restarts a crashing process with backoff, and stops after a crash loop', () => {
  it('waits 100, 200, 400 ms between the starts of a process that exits at once, then gives up with the reason (and what it printed on stderr)', async () => {
    const clock = new ManualClock();
    const chaos = new ProcessChaos({ processes: [{ name: 'crashy', command: [process.execPath, '-e', 'console.error("crashy: no config"); process.exit(3)'] }], restart: { initialDelayMs: 100, maxRestarts: 3, windowMs: 60_000 }, clock, reaper: false });
    const starts: number[] = [];
    const exits: (number | null)[] = [];
    const gaveUp: string[] = [];
    chaos.on('start', () => starts.push(clock.now()));
    chaos.on('exit', (e) => exits.push(e.code));
    chaos.on('gaveUp', (g) => gaveUp.push(`${g.name} after ${g.restarts} restarts: ${g.reason}`));
    const printed: { name: string; line: string; stream: string }[] = [];
    chaos.on('output', (o) => printed.push(o));
    chaos.start({ inject: false });
    try {
      for (const wait of [100, 200, 400]) {
        await expect.poll(() => exits.length, { timeout: 10_000 }).toBe(starts.length);
        await clock.advanceAsync(wait);
      }
      await expect.poll(() => gaveUp.length, { timeout: 10_000 }).toBe(1);
      expect(starts).toEqual([0, 100, 300, 700]);
      expect(exits).toEqual([3, 3, 3, 3]);
      expect(gaveUp[0]).toBe('crashy after 3 restarts: crash loop: 4 exits within 60000 ms (maxRestarts 3); not restarted again');
      await clock.advanceAsync(60_000);
      expect(starts).toHaveLength(4); // left down
      // a crash's reason is on stderr: it reaches the output events, marked as such (once per start)
      await expect.poll(() => printed.length, { timeout: 10_000 }).toBe(4);
      expect(printed).toEqual(Array(4).fill({ name: 'crashy', line: 'crashy: no config', stream: 'stderr' }));
    } finally {
      await chaos.stop();
    }
  });
});
