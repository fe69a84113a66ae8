import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { LogCapture } from '../support/log-capture.js';
import type { FetchedSecret, SecretReader } from '../../lib/refresh/fetched-secret.js';
import { EntraPgCredentialError, EntraPgShutdownError } from '../../lib/index.js';
import { CredentialRefresher } from '../../lib/refresh/credential-refresher.js';
import { DEFAULT_REFRESH_SETTINGS } from '../../lib/options/entra-pg.defaults.js';

/** A secret source whose answers the test releases by hand. */
class ManualSource implements SecretReader {
  readonly label = 'Entra token';
  readonly description = 'manual source';
  calls = 0;
  private pending: Array<{ resolve: (s: FetchedSecret) => void; reject: (e: Error) => void }> = [];
  fetch(): Promise<FetchedSecret> {
    this.calls += 1;
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }
  answer(lifetimeMs: number, password = `token-${this.calls}`): void {
    this.pending.shift()!.resolve({ user: 'u', password, expiresAt: clock.now + lifetimeMs, refreshAfter: undefined });
  }
  fail(message: string): void {
    this.pending.shift()!.reject(new Error(message));
  }
  /** Answers with an expiry given as an absolute epoch value, right or wrong. */
  answerAt(expiresAt: number): void {
    this.pending.shift()!.resolve({ user: 'u', password: `token-${this.calls}`, expiresAt, refreshAfter: undefined });
  }
  pendingCount(): number {
    return this.pending.length;
  }
}

/** Never answers; records the abort signals it was given. */
class HangingSource implements SecretReader {
  readonly label = 'Entra token';
  readonly description = 'hanging source';
  calls = 0;
  readonly signals: AbortSignal[] = [];
  fetch(signal: AbortSignal): Promise<FetchedSecret> {
    this.calls += 1;
    this.signals.push(signal);
    return new Promise(() => undefined);
  }
}

/** Fails after `ms` on the test clock. */
class SlowFailingSource implements SecretReader {
  readonly label = 'Entra token';
  readonly description = 'slow failing source';
  calls = 0;
  constructor(private readonly ms: number) {}
  fetch(): Promise<FetchedSecret> {
    this.calls += 1;
    return new Promise((_, reject) => setTimeout(() => reject(new Error('identity endpoint timed out')), this.ms));
  }
}

/**
 * Like MSAL: hands back the token it holds until its refreshAfter (or, with `never`, until it has
 * expired), then mints a new one.
 */
class CachingSource implements SecretReader {
  readonly label = 'Entra token';
  readonly description = 'caching source';
  calls = 0;
  issued = 0;
  private held: FetchedSecret | undefined;
  constructor(
    private readonly lifetimeMs: number,
    private readonly refreshAfterMs: number | undefined,
    private readonly never = false,
    private readonly now: () => number = () => clock.now,
  ) {}
  fetch(): Promise<FetchedSecret> {
    this.calls += 1;
    const held = this.held;
    const renewAt = held && (this.never ? held.expiresAt! : (held.refreshAfter ?? held.expiresAt!));
    if (!held || this.now() >= renewAt!) {
      this.issued += 1;
      this.held = {
        user: 'u',
        password: `token-${this.issued}`,
        expiresAt: this.now() + this.lifetimeMs,
        refreshAfter: this.refreshAfterMs === undefined ? undefined : this.now() + this.refreshAfterMs,
      };
    }
    return Promise.resolve({ ...this.held! });
  }
}

const clock = { now: 1_800_000_000_000 };
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('CredentialRefresher', () => {
  let source: ManualSource;
  let refresher: CredentialRefresher;
  beforeEach(() => {
    LogCapture.install();
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    clock.now = 1_800_000_000_000;
    source = new ManualSource();
    refresher = new CredentialRefresher(
      source,
      { ...DEFAULT_REFRESH_SETTINGS, jitterRatio: 0, retryBaseMs: 1_000, retryMaxMs: 4_000 },
      'default',
      new Logger('test'),
      () => clock.now,
      () => 0.999999,
    );
  });
  afterEach(() => {
    refresher.stop();
    jest.useRealTimers();
  });

  const advance = async (ms: number) => {
    clock.now += ms;
    jest.advanceTimersByTime(ms);
    await settle();
  };

  it('shares one fetch among concurrent callers on a cold cache', async () => {
    const callers = Array.from({ length: 50 }, () => refresher.get());
    expect(source.calls).toBe(1);
    source.answer(60_000);
    const secrets = await Promise.all(callers);
    expect(new Set(secrets.map((s) => s.password))).toEqual(new Set(['token-1']));
    expect(refresher.peek()?.password).toBe('token-1');
  });

  it('refreshes ahead of expiry on its own, and hands out the cached secret with no fetch in between', async () => {
    const first = refresher.get();
    source.answer(10 * 60_000);
    await first;
    await advance(4 * 60_000);
    for (let i = 0; i < 10; i += 1) await refresher.get();
    expect(source.calls).toBe(1);
    await advance(60_001); // refresh is due 5 minutes before the 10-minute expiry
    expect(source.calls).toBe(2);
    source.answer(10 * 60_000);
    await settle();
    expect(refresher.peek()?.password).toBe('token-2');
  });

  it('keeps the valid secret through failed refreshes, backing off, then recovers', async () => {
    const first = refresher.get();
    source.answer(10 * 60_000);
    await first;
    await advance(5 * 60_000);
    expect(source.calls).toBe(2);
    source.fail('identity endpoint down');
    await settle();
    expect(refresher.snapshot()).toMatchObject({ refreshFailures: 1, lastError: 'Error: identity endpoint down' });
    expect(refresher.peek()?.password).toBe('token-1');
    await advance(1_000);
    expect(source.calls).toBe(3);
    source.fail('still down');
    await settle();
    await advance(1_999);
    expect(source.calls).toBe(3); // the second retry waits twice as long
    await advance(1);
    expect(source.calls).toBe(4);
    source.answer(10 * 60_000);
    await settle();
    expect(refresher.snapshot()).toMatchObject({ refreshFailures: 0, lastError: undefined });
    expect(refresher.peek()?.password).toBe('token-4');
  });

  it('fails fast, naming the source and the cause, once the secret has expired and fetching keeps failing', async () => {
    const first = refresher.get();
    source.answer(2_000);
    await first;
    await advance(1_000);
    source.fail('connect ECONNREFUSED 127.0.0.1:1');
    await settle();
    await advance(1_000); // the first retry, as the token expires
    expect(source.calls).toBe(3);
    source.fail('connect ECONNREFUSED 127.0.0.1:1');
    await settle();
    await advance(200);
    const error = await refresher.get().catch((e: unknown) => e);
    expect(source.calls).toBe(3); // no fetch per caller while the source is failing
    expect(error).toBeInstanceOf(EntraPgCredentialError);
    expect((error as Error).message).toMatch(/expired 0 s ago and fetching one from manual source failed 2 time\(s\) .*ECONNREFUSED/);
  });

  it('forces one shared refresh after a rejected login, and reuses a refresh newer than the login', async () => {
    const first = refresher.get();
    source.answer(10 * 60_000);
    await first;
    await advance(2_000);
    const loginStartedAt = clock.now;
    const forced = [refresher.forceRefresh(loginStartedAt), refresher.forceRefresh(loginStartedAt)];
    expect(source.calls).toBe(2);
    source.answer(10 * 60_000);
    await Promise.all(forced);
    // A caller whose login began before that refresh gets the new secret without another fetch.
    expect((await refresher.forceRefresh(loginStartedAt))?.password).toBe('token-2');
    expect(source.calls).toBe(2);
  });

  it('stops its timer and fetches nothing after stop()', async () => {
    const first = refresher.get();
    source.answer(2_000);
    await first;
    refresher.stop();
    await advance(10_000);
    expect(source.calls).toBe(1);
    expect(refresher.snapshot().nextRefreshAt).toBeUndefined();
  });

  it('gives up on a fetch that never answers after refresh.timeoutMs, aborts it, and backs off', async () => {
    const hanging = new HangingSource();
    const r = new CredentialRefresher(hanging, { ...DEFAULT_REFRESH_SETTINGS, jitterRatio: 0, timeoutMs: 5_000 }, 'default', new Logger('test'), () => clock.now, () => 0.999999);
    try {
      const callers = Array.from({ length: 10 }, () => r.get().catch((e: unknown) => e));
      expect(hanging.calls).toBe(1);
      await advance(5_000);
      const errors = await Promise.all(callers);
      expect(errors.every((e) => e instanceof EntraPgCredentialError && /did not answer within 5000 ms/.test((e as Error).message))).toBe(true);
      expect(hanging.signals[0]?.aborted).toBe(true);
      expect(r.snapshot()).toMatchObject({ refreshFailures: 1, refreshingSince: undefined });
      // While failing, callers are answered at once instead of each waiting out an attempt.
      await expect(r.get()).rejects.toBeInstanceOf(EntraPgCredentialError);
      expect(hanging.calls).toBe(1);
      await advance(1_000); // the first retry
      expect(hanging.calls).toBe(2);
    } finally {
      r.stop();
    }
  });

  it('answers every caller waiting on a fetch when stopped', async () => {
    const hanging = new HangingSource();
    const r = new CredentialRefresher(hanging, DEFAULT_REFRESH_SETTINGS, 'default', new Logger('test'), () => clock.now);
    const callers = Array.from({ length: 5 }, () => r.get().catch((e: unknown) => e));
    r.stop();
    const errors = await Promise.all(callers);
    expect(errors.every((e) => e instanceof EntraPgShutdownError)).toBe(true);
    expect(hanging.signals[0]?.aborted).toBe(true);
  });

  it('reads a secret that expires in 30 days once, not once per millisecond (setTimeout overflow)', async () => {
    // One clock for timers and time, so a timer re-armed mid-step is not measured against the other.
    jest.setSystemTime(clock.now);
    const r = new CredentialRefresher(source, { ...DEFAULT_REFRESH_SETTINGS, jitterRatio: 0 }, 'default', new Logger('test'), Date.now);
    try {
      const first = r.get();
      source.answerAt(Date.now() + 30 * 24 * 60 * 60_000);
      await first;
      jest.advanceTimersByTime(2_000);
      await settle();
      expect(source.calls).toBe(1);
      // Re-armed in steps, it still fires when due: 5 minutes before expiry.
      for (let hour = 0; hour < 30 * 24 - 1; hour += 1) {
        jest.advanceTimersByTime(60 * 60_000);
        await settle();
      }
      jest.advanceTimersByTime(50 * 60_000);
      await settle();
      expect(source.calls).toBe(1);
      jest.advanceTimersByTime(5 * 60_000 + 1_000);
      await settle();
      expect(source.calls).toBe(2);
    } finally {
      r.stop();
    }
  });

  it('treats a secret that has already expired as a failure: backs off, one warning, no 100 ms loop', async () => {
    const logs = LogCapture.install();
    const r = new CredentialRefresher(source, { ...DEFAULT_REFRESH_SETTINGS, retryBaseMs: 1_000, retryMaxMs: 30_000 }, 'default', new Logger('test'), () => clock.now, () => 0.999999);
    try {
      const first = r.get().catch((e: unknown) => e);
      source.answer(-60_000);
      const error = await first;
      expect(error).toBeInstanceOf(EntraPgCredentialError);
      expect((error as Error).message).toMatch(/had already expired 60 s ago/);
      // Over 10 s: backoff 1 s, 2 s, 4 s, never every 100 ms.
      for (let i = 0; i < 100; i += 1) {
        await advance(100);
        if (source.pendingCount() > 0) source.answer(-60_000);
      }
      expect(source.calls).toBeLessThanOrEqual(4);
      expect(logs.matching(/had already expired/).length).toBe(1);
    } finally {
      r.stop();
    }
  });

  it('names the unit when an expiry looks like seconds since the epoch', async () => {
    const r = new CredentialRefresher(source, DEFAULT_REFRESH_SETTINGS, 'default', new Logger('test'), () => clock.now);
    try {
      const first = r.get().catch((e: unknown) => e);
      source.answerAt(Math.floor(Date.UTC(2030, 0, 1) / 1000));
      expect(((await first) as Error).message).toMatch(/looks like seconds since the epoch; it must be in milliseconds/);
    } finally {
      r.stop();
    }
  });

  it('asks a caching credential (24 h tokens, refresh after 12 h) only a handful of times over 48 h, jitter included', async () => {
    const hour = 60 * 60_000;
    // One clock for timers, the refresher and the credential, as in a real process.
    jest.setSystemTime(clock.now);
    const caching = new CachingSource(24 * hour, 12 * hour, false, Date.now);
    const r = new CredentialRefresher(caching, { ...DEFAULT_REFRESH_SETTINGS, jitterRatio: 0.5 }, 'default', new Logger('test'), Date.now, Math.random);
    try {
      await r.get();
      // The async variant lets each fetch's answer arrive before later timers (its timeout) fire.
      for (let minute = 0; minute < 48 * 60; minute += 1) await jest.advanceTimersByTimeAsync(60_000);
      // A new token every 12 h: 4 to 5 tokens; never the same one asked for in a loop.
      expect(caching.issued).toBeGreaterThanOrEqual(4);
      expect(caching.calls).toBeLessThanOrEqual(caching.issued + 2);
    } finally {
      r.stop();
    }
  });

  it('backs off when a source keeps handing back the token already held as its expiry nears', async () => {
    // An identity service that caches one token with 4 minutes left and never renews it early.
    const stuck = new CachingSource(4 * 60_000, undefined, true);
    const r = new CredentialRefresher(stuck, { ...DEFAULT_REFRESH_SETTINGS, jitterRatio: 0 }, 'default', new Logger('test'), () => clock.now, () => 0.999999);
    try {
      await r.get();
      for (let i = 0; i < 2_399; i += 1) await advance(100);
      // Halving delays reach 100 ms in the last second (12 calls or more); backoff keeps it to a few.
      expect(stuck.calls).toBeLessThanOrEqual(7);
    } finally {
      r.stop();
    }
  });

  it('fails callers fast once a slow-failing source has failed, without starting attempts of their own', async () => {
    const slow = new SlowFailingSource(2_000);
    const r = new CredentialRefresher(slow, { ...DEFAULT_REFRESH_SETTINGS, retryBaseMs: 5_000, retryMaxMs: 5_000, forcedRefreshMinIntervalMs: 1_000 }, 'default', new Logger('test'), () => clock.now, () => 0.999999);
    try {
      const first = r.get().catch((e: unknown) => e);
      await advance(2_000);
      expect(await first).toBeInstanceOf(EntraPgCredentialError);
      // Later callers, past the forced-refresh interval counted from the attempt's start, fail at once.
      await advance(1_500);
      const started = clock.now;
      const burst = await Promise.all(Array.from({ length: 20 }, () => r.get().catch((e: unknown) => e)));
      expect(clock.now).toBe(started);
      expect(burst.every((e) => e instanceof EntraPgCredentialError)).toBe(true);
      expect(slow.calls).toBe(1);
      expect((burst[0] as Error).message).toMatch(/next attempt is in \d+ s/);
    } finally {
      r.stop();
    }
  });

  it('stops forcing refreshes for a login the server refuses even with a fresh secret, until a login succeeds', async () => {
    const first = refresher.get();
    source.answer(60 * 60_000);
    await first;
    await advance(2_000);
    let forced = refresher.forceRefresh(clock.now - 1);
    expect(source.calls).toBe(2);
    source.answer(60 * 60_000);
    await forced;
    // Every caller's login is refused again with that fresh secret: no further fetch per caller.
    await advance(10);
    const answers = await Promise.all(Array.from({ length: 50 }, () => refresher.forceRefresh(clock.now - 1)));
    expect(answers.every((a) => a === undefined)).toBe(true);
    expect(source.calls).toBe(2);
    // After a backoff one more forced refresh is allowed; then the wait doubles.
    await advance(1_000);
    forced = refresher.forceRefresh(clock.now - 1);
    expect(source.calls).toBe(3);
    source.answer(60 * 60_000);
    await forced;
    await advance(1_500);
    expect(await refresher.forceRefresh(clock.now - 1)).toBeUndefined();
    expect(source.calls).toBe(3);
    // A successful login resets it.
    refresher.loginSucceeded();
    await advance(1_000);
    void refresher.forceRefresh(clock.now - 1);
    expect(source.calls).toBe(4);
    source.answer(60 * 60_000);
  });

  it('answers the callers of a fetch even when a listener of the new secret throws', async () => {
    refresher.onSecret(() => {
      throw new Error('listener broke');
    });
    const callers = Array.from({ length: 3 }, () => refresher.get());
    source.answer(60_000);
    const secrets = await Promise.all(callers);
    expect(secrets.every((secret) => secret.password === 'token-1')).toBe(true);
  });
});
