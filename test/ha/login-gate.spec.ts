import { jest } from '@jest/globals';
import { LoginGate, isTransientLoginError } from '../../lib/pool/connect-retry.js';

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('LoginGate: the pace of logins while the server cannot be reached', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('lets logins through at once while logins succeed', () => {
    const gate = new LoginGate(100, 2_000, () => 1);
    const ran: number[] = [];
    gate.enter((step) => ran.push(step));
    gate.enter((step) => ran.push(step));
    expect(ran).toHaveLength(2);
    expect(gate.downSince).toBeUndefined();
  });

  it('after a transient failure, waiting logins go together at the next opening; the step doubles up to the cap', () => {
    // random() = 1: each step is its full length.
    const gate = new LoginGate(100, 2_000, () => 1);
    let step = -1;
    gate.enter((s) => (step = s));
    for (const delay of [100, 200, 400, 800, 1_600, 2_000, 2_000]) {
      // Every login of the step fails; only the first lengthens the backoff.
      gate.failed(step, refused);
      gate.failed(step, refused);
      const waiting: number[] = [];
      for (let k = 0; k < 3; k += 1) gate.enter((s) => waiting.push(s));
      jest.advanceTimersByTime(delay - 1);
      expect(waiting).toEqual([]);
      jest.advanceTimersByTime(1);
      // Several missing connections: all their logins went at this opening, in one step.
      expect(waiting).toHaveLength(3);
      expect(new Set(waiting).size).toBe(1);
      step = waiting[0]!;
    }
    expect(gate.attemptsWhileDown).toBe(21);
    expect(gate.lastError).toMatch(/ECONNREFUSED/);
  });

  it('never waits less than half a step nor more than the cap, and a success releases everyone at once', () => {
    const gate = new LoginGate(100, 2_000, () => 0);
    gate.enter((step) => gate.failed(step, refused));
    const ran: string[] = [];
    gate.enter(() => ran.push('a'));
    jest.advanceTimersByTime(49);
    expect(ran).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(ran).toEqual(['a']);
    // Many failures: the step is capped.
    for (let i = 0; i < 40; i += 1) gate.enter((step) => gate.failed(step, refused));
    jest.advanceTimersByTime(60_000);
    gate.enter(() => ran.push('b'));
    gate.succeeded();
    expect(ran).toEqual(['a', 'b']);
    expect(gate.downSince).toBeUndefined();
  });

  it('ignores failures that will not pass (a refused password) and lets every waiter go at close()', () => {
    const gate = new LoginGate(100, 2_000, () => 1);
    gate.enter((step) => gate.failed(step, Object.assign(new Error('password authentication failed'), { code: '28P01' })));
    expect(gate.downSince).toBeUndefined();
    gate.enter((step) => gate.failed(step, refused));
    const ran: string[] = [];
    gate.enter(() => ran.push('x'));
    gate.close();
    expect(ran).toEqual(['x']);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('classifies login errors', () => {
    expect(isTransientLoginError(refused)).toBe(true);
    expect(isTransientLoginError({ code: '57P03', message: 'the database system is starting up' })).toBe(true);
    expect(isTransientLoginError({ code: '53300' })).toBe(true);
    expect(isTransientLoginError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientLoginError(new Error('Connection terminated due to connection timeout', { cause: new Error('x') }))).toBe(true);
    expect(isTransientLoginError({ code: '08P01', message: 'password authentication failed' })).toBe(false);
    expect(isTransientLoginError({ code: '28P01' })).toBe(false);
    expect(isTransientLoginError({ code: '42601' })).toBe(false);
  });
});
