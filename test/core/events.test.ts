import { describe, expect, it, vi } from 'vitest';
import { Emitter } from '../../src/core/index.js';

type Events = { change: { to: string }; tick: number };

describe('Emitter', () => {
  it('delivers events to listeners in subscription order', () => {
    const e = new Emitter<Events>();
    const seen: string[] = [];
    e.on('change', (ev) => seen.push(`1:${ev.to}`));
    e.on('change', (ev) => seen.push(`2:${ev.to}`));
    e.emit('change', { to: 'open' });
    expect(seen).toEqual(['1:open', '2:open']);
  });

  it('returns a subscription whose dispose() removes only that listener, once', () => {
    const e = new Emitter<Events>();
    const a = vi.fn();
    const b = vi.fn();
    const subA = e.on('tick', a);
    e.on('tick', b);
    subA.dispose();
    subA.dispose();
    e.emit('tick', 1);
    expect(a).not.toHaveBeenCalled();
    expect(b).toHaveBeenCalledWith(1);
    expect(e.listenerCount('tick')).toBe(1);
  });

  it('once() listens for a single event', () => {
    const e = new Emitter<Events>();
    const fn = vi.fn();
    e.once('tick', fn);
    e.emit('tick', 1);
    e.emit('tick', 2);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(e.has('tick')).toBe(false);
  });

  it('keeps calling other listeners when one throws, and hands the error on', () => {
    const errors: unknown[] = [];
    const e = new Emitter<Events>((err) => errors.push(err));
    const after = vi.fn();
    e.on('tick', () => {
      throw new Error('listener bug');
    });
    e.on('tick', after);
    e.emit('tick', 7);
    expect(after).toHaveBeenCalledWith(7);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('listener bug');
  });

  it('is not disturbed by a listener that unsubscribes during emit', () => {
    const e = new Emitter<Events>();
    const seen: number[] = [];
    const sub = e.on('tick', () => {
      seen.push(1);
      sub.dispose();
    });
    e.on('tick', () => seen.push(2));
    e.emit('tick', 0);
    e.emit('tick', 0);
    expect(seen).toEqual([1, 2, 2]);
  });

  it('rejects a listener that is not a function', () => {
    const e = new Emitter<Events>();
    expect(() => e.on('tick', 5 as never)).toThrow(/on\('tick'\): listener must be a function, got number/);
  });
});
