import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { LogCapture } from '../support/log-capture.js';
import type { FetchedSecret, SecretSource } from '../../lib/credentials/secret-source.interface.js';
import { EntraPgCredentialError } from '../../lib/index.js';
import { CredentialRefresher } from '../../lib/refresh/credential-refresher.js';
import { DEFAULT_REFRESH_SETTINGS } from '../../lib/refresh/refresh-schedule.js';

/** A secret source whose answers the test releases by hand. */
class ManualSource implements SecretSource {
  readonly kind = 'entra';
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
}

const clock = { now: 1_000_000 };
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('CredentialRefresher', () => {
  let source: ManualSource;
  let refresher: CredentialRefresher;
  beforeEach(() => {
    LogCapture.install();
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    clock.now = 1_000_000;
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
});
