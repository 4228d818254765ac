import { describe, expect, it } from 'vitest';
import { FencingLogs } from '../../src/demo/fencing-log.js';
import { checkFencing } from '../../src/metrics/fencing-check.js';

describe('FencingLogs (the supervisor’s copy of the db nodes’ maintenance writes)', () => {
  it('keeps each node’s writes across polls and restarts, in order, once each', () => {
    const logs = new FencingLogs();
    expect(logs.after('db-1', 100)).toBe(0);
    logs.record('db-1', 100, [
      { seq: 1, token: 1, writer: 'web-1', accepted: true, at: 1 },
      { seq: 2, token: 1, writer: 'web-1', accepted: true, at: 2 },
    ]);
    expect(logs.after('db-1', 100)).toBe(2);
    // A poll that repeats what was read, then a new entry; garbage is skipped.
    logs.record('db-1', 100, [{ seq: 2, token: 1, writer: 'web-1', accepted: true, at: 2 }, { seq: 3, token: 2, writer: 'web-2', accepted: true, at: 3 }, { nonsense: true }]);
    // The node restarted (another pid): its seqs start again, after what its first life took.
    logs.record('db-1', 200, [{ seq: 1, token: 1, writer: 'web-1', accepted: false, at: 4 }]);
    logs.record('db-1', 100, 'not a list');
    expect(logs.after('db-1', 200)).toBe(1);
    expect(logs.history().map((w) => [w.token, w.writer, w.accepted])).toEqual([
      [1, 'web-1', true],
      [1, 'web-1', true],
      [2, 'web-2', true],
      [1, 'web-1', false],
    ]);
    expect(checkFencing(logs.history()).valid).toBe(true);
  });

  it('lets the check see a restarted node that forgot its highest token', () => {
    const logs = new FencingLogs();
    logs.record('db-2', 1, [{ seq: 1, token: 5, writer: 'web-3', accepted: true, at: 1 }]);
    logs.record('db-2', 2, [{ seq: 1, token: 4, writer: 'web-1', accepted: true, at: 2 }]);
    const res = checkFencing(logs.history());
    expect(res.violations).toMatchObject([{ kind: 'stale-token', resource: 'db-2', token: 4, highest: 5 }]);
  });
});
