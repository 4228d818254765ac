import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { IncidentBook, type IncidentEvent } from '../../src/demo/incidents.js';
import { AvailabilityTracker } from '../../src/metrics/availability.js';

describe('IncidentBook: the demo incidents from fault to restore', () => {
  const setup = () => {
    const events: IncidentEvent[] = [];
    const book = new IncidentBook((e) => events.push(e));
    const tracker = new AvailabilityTracker({ clock: new ManualClock(0) });
    book.attach(tracker);
    return { book, events, tracker };
  };

  it('a kill: detected when the target leaves the healthy set, restored when it is back', () => {
    const { book, events, tracker } = setup();
    book.fault({ id: 1, at: 1000, target: 'db-1', kind: 'kill', pid: 42 });
    expect(book.openCount).toBe(1);
    book.left('db-1', 1400);
    book.left('db-1', 1500); // a second report changes nothing
    book.back('db-1', 2300);
    expect(book.openCount).toBe(0);
    expect(events).toEqual([
      { type: 'fault', id: 1, target: 'db-1', kind: 'kill', pid: 42 },
      { type: 'detected', id: 1, target: 'db-1', ms: 400 },
      { type: 'restored', id: 1, target: 'db-1', ms: 1300 },
    ]);
    expect(tracker.live(3000).incidents).toEqual([{ id: 1, target: 'db-1', kind: 'kill', at: 1000, detectedMs: 400, restoredMs: 1300 }]);
  });

  it('a pause too short for the registry is restored on resume and never detected (masked)', () => {
    const { book, events } = setup();
    book.fault({ id: 1, at: 1000, target: 'web-2', kind: 'pause', pid: 7 });
    book.back('web-2', 1100); // was never out: not a restore
    expect(book.openCount).toBe(1);
    book.resumed('web-2', 1300);
    expect(book.openCount).toBe(0);
    expect(events.map((e) => e.type)).toEqual(['fault', 'restored']);
  });

  it('a fault on the leader: the next election by another replica is a failover, timed from the fault', () => {
    const { book } = setup();
    book.elected('web-1', 1, 500);
    book.fault({ id: 1, at: 1000, target: 'web-1', kind: 'kill', pid: 9 });
    book.elected('web-3', 2, 2200);
    book.elected('web-1', 3, 5000); // a later change is not the same failover again
    expect(book.leader).toBe('web-1');
    expect(book.failovers).toEqual([{ faultId: 1, from: 'web-1', to: 'web-3', ms: 1200 }]);
  });

  it('a claim that arrives with a token no higher than the leader\'s is stale: kept apart, not a leader change', () => {
    const { book, events } = setup();
    book.elected('web-1', 37, 500);
    book.elected('web-2', 39, 2000);
    book.elected('web-1', 37, 2100); // paused after it won, it says so after losing its lease
    book.elected('web-3', 39, 2200);
    expect(book.leader).toBe('web-2');
    expect(book.leaderChanges.map((c) => c.token)).toEqual([37, 39]);
    expect(book.staleClaims).toEqual([{ at: 2100, leader: 'web-1', token: 37 }, { at: 2200, leader: 'web-3', token: 39 }]);
    expect(events.filter((e) => e.type === 'leader')).toHaveLength(2);
  });

  it('records nothing before the measured run starts (no tracker attached)', () => {
    const events: IncidentEvent[] = [];
    const book = new IncidentBook((e) => events.push(e));
    book.fault({ id: 1, at: 1000, target: 'db-1', kind: 'kill', pid: 1 });
    expect(book.openCount).toBe(0);
    expect(events).toEqual([]);
  });
});
