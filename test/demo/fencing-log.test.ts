import { describe, expect, it } from 'vitest';
import { FencingLogs, MaintenanceRegisters, maintenanceId } from '../../src/demo/fencing-log.js';
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

describe('MaintenanceRegisters (each db node’s maintenance record as a linearizable register)', () => {
  const rec = (leader: string, token: number, run: number, at: number) => ({ leader, token, run, totals: {}, at });
  const write = (seq: number, leader: string, token: number, run: number, at: number, doneAt: number) => ({ seq, token, writer: leader, accepted: true, at, doneAt, value: maintenanceId(rec(leader, token, run, at)) });

  it('passes reads that follow the writes, across a restart that restored the last record', () => {
    const logs = new FencingLogs();
    const regs = new MaintenanceRegisters();
    regs.read('db-1', 0, 5, null);
    logs.record('db-1', 100, [write(1, 'web-1', 3, 1, 10, 20), write(2, 'web-1', 3, 2, 1010, 1020)]);
    regs.read('db-1', 1030, 1040, rec('web-1', 3, 2, 1011));
    // Restarted (pid 200): it restored run 2 from its journal, then took run 3.
    regs.read('db-1', 2000, 2010, rec('web-1', 3, 2, 1011));
    logs.record('db-1', 200, [write(1, 'web-1', 3, 3, 2100, 2110)]);
    regs.read('db-1', 2200, 2210, rec('web-1', 3, 3, 2101));
    const c = regs.check(logs);
    expect(c).toMatchObject({ valid: true, writes: 3, reads: 4, reconstructed: 0 });
  });

  it('catches a node that lost an acknowledged record in a restart (read back an older one)', () => {
    const logs = new FencingLogs();
    const regs = new MaintenanceRegisters();
    logs.record('db-1', 100, [write(1, 'web-1', 3, 1, 10, 20), write(2, 'web-1', 3, 2, 1010, 1020)]);
    // After a restart without the journal's last entry: run 1 again, though run 2 was acknowledged at 1020.
    regs.read('db-1', 2000, 2010, rec('web-1', 3, 1, 11));
    const c = regs.check(logs);
    expect(c.valid).toBe(false);
    expect(c.counterexample!.partition).toBe('db-1');
    expect(c.counterexample!.stuck.op).toContain('read()');
  });

  it('takes a record no log showed (its node killed before the next poll) as a write of unknown outcome from when the record says it was taken', () => {
    const logs = new FencingLogs();
    const regs = new MaintenanceRegisters();
    logs.record('db-2', 100, [write(1, 'web-2', 5, 7, 10, 20)]);
    regs.read('db-2', 3000, 3010, rec('web-2', 5, 8, 1500)); // run 8's log entry died with the process
    expect(regs.check(logs)).toMatchObject({ valid: true, writes: 1, reads: 1, reconstructed: 1 });
    // But not before its own time: a read at 1000 of a record taken at 1500 cannot be.
    const early = new MaintenanceRegisters();
    early.read('db-2', 900, 1000, rec('web-2', 5, 8, 1500));
    early.read('db-2', 1600, 1700, rec('web-2', 5, 8, 1500));
    expect(early.check(logs).valid).toBe(false);
  });
});
