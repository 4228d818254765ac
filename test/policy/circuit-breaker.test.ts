import { describe, expect, it } from 'vitest';
import { CircuitIsolatedError, CircuitOpenError, ManualClock } from '../../src/core/index.js';
import { circuitBreaker, consecutiveBreaker, samplingBreaker, type CircuitState } from '../../src/policy/index.js';

const fail = async (): Promise<never> => {
  throw new Error('boom');
};
const ok = async (): Promise<string> => 'ok';

function setup(options: Parameters<typeof circuitBreaker>[0] = {}) {
  const clock = new ManualClock(1_000_000);
  const cb = circuitBreaker({ breaker: consecutiveBreaker(3), halfOpenAfterMs: 5000, clock, name: 'db', ...options });
  const changes: string[] = [];
  cb.on('stateChange', ({ from, to }) => changes.push(`${from}->${to}`));
  return { clock, cb, changes };
}

async function failTimes(cb: ReturnType<typeof circuitBreaker>, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await cb.execute(fail).catch(() => {});
}

describe('circuitBreaker', () => {
  it('stays closed below the threshold and passes results and errors through', async () => {
    const { cb } = setup();
    await expect(cb.execute(ok)).resolves.toBe('ok');
    await expect(cb.execute(fail)).rejects.toThrow('boom');
    await failTimes(cb, 1);
    expect(cb.state).toBe('closed');
  });

  it('opens after the consecutive failures and rejects without calling', async () => {
    const { cb, changes } = setup();
    await failTimes(cb, 3);
    expect(cb.state).toBe('open');
    let called = false;
    const err = await cb
      .execute(async () => {
        called = true;
      })
      .catch((e: unknown) => e);
    expect(called).toBe(false);
    expect(err).toBeInstanceOf(CircuitOpenError);
    expect((err as CircuitOpenError).message).toBe("circuit 'db' is open for 5.0 s more (halfOpenAfterMs=5000)");
    expect((err as CircuitOpenError).retryAfterMs).toBe(5000);
    expect(changes).toEqual(['closed->open']);
    expect(cb.stats).toMatchObject({ calls: 4, failures: 3, rejections: 1, opened: 1 });
  });

  it('a success resets the consecutive count', async () => {
    const { cb } = setup();
    await failTimes(cb, 2);
    await cb.execute(ok);
    await failTimes(cb, 2);
    expect(cb.state).toBe('closed');
  });

  it('half-opens after halfOpenAfterMs without any timer and closes on a successful trial', async () => {
    const { cb, clock, changes } = setup();
    await failTimes(cb, 3);
    expect(clock.pending).toBe(0);
    clock.advance(4999);
    await expect(cb.execute(ok)).rejects.toBeInstanceOf(CircuitOpenError);
    clock.advance(1);
    await expect(cb.execute(ok)).resolves.toBe('ok');
    expect(cb.state).toBe('closed');
    expect(changes).toEqual(['closed->open', 'open->halfOpen', 'halfOpen->closed']);
  });

  it('reopens when a trial fails, and waits halfOpenAfterMs again', async () => {
    const { cb, clock, changes } = setup();
    await failTimes(cb, 3);
    clock.advance(5000);
    await expect(cb.execute(fail)).rejects.toThrow('boom');
    expect(cb.state).toBe('open');
    clock.advance(4000);
    await expect(cb.execute(ok)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(changes).toEqual(['closed->open', 'open->halfOpen', 'halfOpen->open']);
  });

  it('lets only halfOpenTrials calls through at once while half-open', async () => {
    const { cb, clock } = setup({ halfOpenTrials: 2, closeAfterSuccesses: 2 });
    await failTimes(cb, 3);
    clock.advance(5000);
    const gates: (() => void)[] = [];
    const trial = (): Promise<string> => cb.execute(() => new Promise<string>((r) => gates.push(() => r('t'))));
    const t1 = trial();
    const t2 = trial();
    const third = await cb.execute(ok).catch((e: unknown) => e);
    expect(third).toBeInstanceOf(CircuitOpenError);
    expect((third as Error).message).toMatch(/half-open with 2 trial call\(s\) in flight \(halfOpenTrials=2\)/);
    gates[0]!();
    await t1;
    expect(cb.state).toBe('halfOpen'); // one success of the two needed
    gates[1]!();
    await t2;
    expect(cb.state).toBe('closed');
  });

  it('needs closeAfterSuccesses successful trials in a row to close', async () => {
    const { cb, clock } = setup({ closeAfterSuccesses: 3 });
    await failTimes(cb, 3);
    clock.advance(5000);
    await cb.execute(ok);
    await cb.execute(ok);
    expect(cb.state).toBe('halfOpen');
    await cb.execute(ok);
    expect(cb.state).toBe('closed');
  });

  it('ignores a trial that finishes after the circuit has moved on', async () => {
    const { cb, clock } = setup({ halfOpenTrials: 2 });
    await failTimes(cb, 3);
    clock.advance(5000);
    let slow!: () => void;
    const slowTrial = cb.execute(() => new Promise<string>((r) => (slow = () => r('late'))));
    await expect(cb.execute(fail)).rejects.toThrow('boom'); // second trial fails: reopen
    expect(cb.state).toBe('open');
    slow();
    await slowTrial;
    expect(cb.state).toBe('open'); // the late success of an earlier half-open period does not close it
  });

  it('does not count the caller own abort as a failure, and frees the trial slot', async () => {
    const { cb, clock } = setup({ breaker: consecutiveBreaker(1) });
    const ac = new AbortController();
    const p = cb.execute(({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))), ac.signal);
    ac.abort(new Error('user left'));
    await expect(p).rejects.toThrow('user left');
    expect(cb.state).toBe('closed');
    await failTimes(cb, 1);
    clock.advance(5000);
    const ac2 = new AbortController();
    const trial = cb.execute(({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))), ac2.signal);
    ac2.abort(new Error('left again'));
    await trial.catch(() => {});
    await expect(cb.execute(ok)).resolves.toBe('ok');
    expect(cb.state).toBe('closed');
  });

  it('counts only what isFailure accepts', async () => {
    const { cb } = setup({ isFailure: (e) => (e as Error).message !== 'not found' });
    for (let i = 0; i < 10; i++) await cb.execute(async () => Promise.reject(new Error('not found'))).catch(() => {});
    expect(cb.state).toBe('closed');
  });

  it('isolate() holds the circuit open until every handle is disposed', async () => {
    const { cb, changes } = setup();
    const a = cb.isolate();
    const b = cb.isolate();
    await expect(cb.execute(ok)).rejects.toBeInstanceOf(CircuitIsolatedError);
    a.dispose();
    a.dispose();
    expect(cb.state).toBe('isolated');
    b.dispose();
    expect(cb.state).toBe('closed');
    expect(changes).toEqual(['closed->isolated', 'isolated->closed']);
  });

  it('survives a restart through toJSON() and initialState', async () => {
    const { cb, clock } = setup();
    await failTimes(cb, 3);
    clock.advance(2000);
    const snapshot = JSON.parse(JSON.stringify(cb.toJSON()));
    expect(snapshot).toEqual({ state: 'open', openedAt: 1_000_000, breaker: { kind: 'consecutive', failures: 3 } });
    const restored = circuitBreaker({ breaker: consecutiveBreaker(3), halfOpenAfterMs: 5000, clock, initialState: snapshot });
    expect(restored.state).toBe('open');
    await expect(restored.execute(ok)).rejects.toMatchObject({ retryAfterMs: 3000 });
    clock.advance(3000);
    await expect(restored.execute(ok)).resolves.toBe('ok');
  });

  it('restores a closed breaker with its failure count', async () => {
    const { cb } = setup();
    await failTimes(cb, 2);
    const restored = circuitBreaker({ breaker: consecutiveBreaker(3), initialState: cb.toJSON(), clock: new ManualClock() });
    await restored.execute(fail).catch(() => {});
    expect(restored.state).toBe('open');
  });

  it('rejects a malformed initialState, naming the field', () => {
    expect(() => circuitBreaker({ initialState: { state: 'ajar', openedAt: 0, breaker: {} } as never })).toThrow(
      "circuitBreaker: initialState.state must be one of 'closed', 'open', 'halfOpen', 'isolated', got \"ajar\"",
    );
    expect(() => circuitBreaker({ initialState: { state: 'closed', openedAt: null, breaker: { kind: 'sampling' } } })).toThrow(/consecutive breaker/);
  });

  it('rejects bad options, naming the option', () => {
    expect(() => circuitBreaker({ halfOpenAfterMs: -1 })).toThrow('circuitBreaker: halfOpenAfterMs must be a number ≥ 0, got -1');
    expect(() => circuitBreaker({ halfOpenTrials: 0 })).toThrow(/halfOpenTrials must be an integer ≥ 1/);
    expect(() => circuitBreaker({ breaker: {} as never })).toThrow(/breaker must be a Breaker/);
    expect(() => consecutiveBreaker(0)).toThrow('consecutiveBreaker: threshold must be an integer ≥ 1, got 0');
  });

  it('walks every transition in a long random run without an impossible state', async () => {
    const { cb, clock } = setup({ halfOpenTrials: 2, closeAfterSuccesses: 2 });
    const allowed = new Set(['closed->open', 'open->halfOpen', 'halfOpen->open', 'halfOpen->closed']);
    const seen = new Set<string>();
    cb.on('stateChange', ({ from, to }) => {
      const edge = `${from}->${to}`;
      expect(allowed.has(edge)).toBe(true);
      seen.add(edge);
    });
    let x = 12345;
    for (let i = 0; i < 2000; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      clock.advance(x % 700);
      await cb.execute(x % 3 === 0 ? ok : fail).catch(() => {});
      expect(['closed', 'open', 'halfOpen'] as CircuitState[]).toContain(cb.state);
    }
    expect(seen).toEqual(allowed);
  });
});

describe('samplingBreaker', () => {
  it('opens when the failure ratio in the window reaches failureRatio after minThroughput calls', async () => {
    const clock = new ManualClock();
    const cb = circuitBreaker({ breaker: samplingBreaker({ failureRatio: 0.5, minThroughput: 10, windowMs: 10_000 }), clock });
    for (let i = 0; i < 4; i++) await cb.execute(fail).catch(() => {});
    expect(cb.state).toBe('closed'); // 4 calls < minThroughput
    for (let i = 0; i < 5; i++) await cb.execute(ok);
    expect(cb.state).toBe('closed'); // 4 / 9
    await cb.execute(fail).catch(() => {});
    expect(cb.state).toBe('open'); // 5 / 10
  });

  it('forgets calls that slid out of the window', async () => {
    const clock = new ManualClock();
    const b = samplingBreaker({ failureRatio: 0.5, minThroughput: 4, windowMs: 1000 });
    const cb = circuitBreaker({ breaker: b, clock });
    for (let i = 0; i < 3; i++) await cb.execute(fail).catch(() => {});
    clock.advance(1500);
    expect(b.window(clock.now())).toEqual({ calls: 0, failures: 0, slow: 0 });
    await cb.execute(fail).catch(() => {});
    expect(cb.state).toBe('closed');
  });

  it('forgets old failures as calls arrive, with no other call to rotate the window', async () => {
    const clock = new ManualClock(5_000);
    const cb = circuitBreaker({ breaker: samplingBreaker({ failureRatio: 0.5, minThroughput: 4, windowMs: 1000 }), clock });
    for (let i = 0; i < 3; i++) await cb.execute(fail).catch(() => {});
    clock.advance(1500);
    await cb.execute(fail).catch(() => {});
    for (let i = 0; i < 3; i++) await cb.execute(ok);
    expect(cb.state).toBe('closed'); // 1 failure of 4 in the window, not 4 of 7
  });

  it('counts slow calls, successes included, against slowCallRatio', async () => {
    const clock = new ManualClock();
    const cb = circuitBreaker({ breaker: samplingBreaker({ minThroughput: 4, slowCallMs: 100, slowCallRatio: 0.5 }), clock });
    const slowOk = (): Promise<string> =>
      cb.execute(async () => {
        clock.advance(150);
        return 'slow';
      });
    await cb.execute(ok);
    await cb.execute(ok);
    await slowOk();
    expect(cb.state).toBe('closed');
    await slowOk();
    expect(cb.state).toBe('open'); // 2 slow of 4
  });

  it('round-trips its window through toJSON()', async () => {
    const clock = new ManualClock();
    const b = samplingBreaker({ minThroughput: 100 });
    const cb = circuitBreaker({ breaker: b, clock });
    for (let i = 0; i < 7; i++) await cb.execute(i % 2 ? ok : fail).catch(() => {});
    const copy = samplingBreaker({ minThroughput: 100 });
    copy.restore(JSON.parse(JSON.stringify(b.toJSON())));
    expect(copy.window(clock.now())).toEqual(b.window(clock.now()));
    expect(() => samplingBreaker({ buckets: 5 }).restore(b.toJSON())).toThrow(/with 5 buckets/);
  });

  it('rejects bad options, naming the option', () => {
    expect(() => samplingBreaker({ failureRatio: 0 })).toThrow('samplingBreaker: failureRatio must be a number > 0 and ≤ 1, got 0');
    expect(() => samplingBreaker({ windowMs: 0 })).toThrow(/windowMs must be a number > 0/);
    expect(() => samplingBreaker({ minThroughput: 0 })).toThrow(/minThroughput must be an integer ≥ 1/);
  });
});
