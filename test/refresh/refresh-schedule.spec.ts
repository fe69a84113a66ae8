import { DEFAULT_REFRESH_SETTINGS } from '../../lib/options/entra-pg.defaults.js';
import { refreshDelay, retryDelay } from '../../lib/refresh/refresh-schedule.js';

const now = 1_000_000_000_000;
const min = 60_000;
const noJitter = () => 0;
const s = DEFAULT_REFRESH_SETTINGS;

describe('refreshDelay', () => {
  it('refreshes a 75-minute token 5 minutes before expiry', () => {
    expect(refreshDelay({ expiresAt: now + 75 * min, refreshAfter: undefined }, now, s, noJitter)).toBe(70 * min);
  });

  it("uses the issuer's refreshAfter when given", () => {
    expect(refreshDelay({ expiresAt: now + 24 * 60 * min, refreshAfter: now + 12 * 60 * min }, now, s, noJitter)).toBe(12 * 60 * min);
  });

  it('schedules from the real expiry of a token handed out with minutes left (half its remaining life)', () => {
    expect(refreshDelay({ expiresAt: now + 4 * min, refreshAfter: undefined }, now, s, noJitter)).toBe(2 * min);
  });

  it('spreads replicas over a share of the lead time after expiry - margin, when a caching credential has a new token', () => {
    const delays = [0, 0.5, 0.999].map((r) => refreshDelay({ expiresAt: now + 75 * min, refreshAfter: undefined }, now, s, () => r)!);
    expect(delays[0]).toBe(70 * min);
    expect(delays[1]).toBe(70 * min + 15_000);
    expect(delays[2]).toBeLessThan(70 * min + 30_000);
    // However wide the jitter, at least half the lead time is left for retries.
    expect(refreshDelay({ expiresAt: now + 75 * min, refreshAfter: undefined }, now, { ...s, jitterRatio: 1 }, () => 0.999999)).toBeLessThan(72.5 * min + 1);
  });

  it('never spins on an almost-expired token, and polls secrets without expiry at the interval', () => {
    expect(refreshDelay({ expiresAt: now + 10, refreshAfter: undefined }, now, s, noJitter)).toBe(100);
    expect(refreshDelay({ expiresAt: undefined, refreshAfter: undefined }, now, s, noJitter)).toBe(5 * min);
    expect(refreshDelay({ expiresAt: undefined, refreshAfter: undefined }, now, { ...s, intervalMs: undefined }, noJitter)).toBeUndefined();
  });

  it('spreads the polls of a secret without expiry over the last part of the interval, never later', () => {
    const polls = [0, 0.5, 0.999999].map((r) => refreshDelay({ expiresAt: undefined, refreshAfter: undefined }, now, s, () => r)!);
    expect(polls[0]).toBe(5 * min);
    expect(polls[1]).toBe(5 * min - 15_000);
    expect(polls[2]).toBeGreaterThan(4.5 * min - 1);
    // A wide jitterRatio still polls at least at half the interval.
    expect(refreshDelay({ expiresAt: undefined, refreshAfter: undefined }, now, { ...s, jitterRatio: 1 }, () => 0.999999)).toBeGreaterThan(2.5 * min - 1);
  });

  it("asks again at a secret's refreshAfter when it has no expiry, and at the interval once that has passed", () => {
    expect(refreshDelay({ expiresAt: undefined, refreshAfter: now + 42_000 }, now, s, () => 0.5)).toBe(42_000);
    expect(refreshDelay({ expiresAt: undefined, refreshAfter: now - 1 }, now, s, noJitter)).toBe(5 * min);
  });
});

describe('retryDelay', () => {
  it('doubles from the base, is capped, and is jittered between half and all of the step', () => {
    const full = () => 0.999999;
    expect([1, 2, 3, 4, 5, 6, 10].map((n) => retryDelay(n, s, full))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(retryDelay(3, s, () => 0)).toBe(2000);
  });
});
