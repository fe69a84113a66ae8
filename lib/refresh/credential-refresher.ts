import type { Logger } from '@nestjs/common';
import { printAs } from '../common/print-as.js';
import { rememberSecret } from '../common/redact.js';
import type { FetchedSecret, SecretSource } from '../credentials/secret-source.interface.js';
import { EntraPgCredentialError, EntraPgShutdownError, describeCause } from '../entra-pg.errors.js';
import { type RefreshSettings, refreshDelay, retryDelay } from './refresh-schedule.js';

/** What the health indicator reads; never holds the secret. */
export interface CredentialSnapshot {
  source: SecretSource['kind'];
  /** What the secret is called in messages ("Entra token", "vault secret"). */
  label: string;
  user: string | undefined;
  expiresAt: number | undefined;
  refreshedAt: number | undefined;
  nextRefreshAt: number | undefined;
  refreshFailures: number;
  lastError: string | undefined;
  requests: number;
  /** When the fetch now in flight started; undefined when none is. */
  refreshingSince: number | undefined;
}

interface CachedSecret extends FetchedSecret {
  fetchedAt: number;
}

/**
 * Owns the current secret: fetches it ahead of expiry, one request at a time, and hands it out
 * synchronously so that opening a connection never waits on the identity service while a valid
 * secret is cached.
 */
export class CredentialRefresher {
  private current: CachedSecret | undefined;
  private inFlight: Promise<FetchedSecret> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private nextRefreshAt: number | undefined;
  private failures = 0;
  private lastError: string | undefined;
  private lastAttemptAt = 0;
  private lastForcedAt = Number.NEGATIVE_INFINITY;
  private requests = 0;
  private stopped = false;
  private readonly listeners: Array<(secret: FetchedSecret) => void> = [];

  constructor(
    private readonly source: SecretSource,
    private readonly settings: RefreshSettings,
    private readonly connectionName: string,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  /** Called with every newly fetched secret, before callers waiting for it resume. */
  onSecret(listener: (secret: FetchedSecret) => void): void {
    this.listeners.push(listener);
  }

  /** The cached secret if new logins can still use it; no I/O. */
  peek(): FetchedSecret | undefined {
    const current = this.current;
    return current && (current.expiresAt === undefined || current.expiresAt > this.now()) ? current : undefined;
  }

  /** A usable secret: the cached one, or the result of the one fetch in flight (started if needed). */
  get(): Promise<FetchedSecret> {
    const valid = this.peek();
    if (valid) return Promise.resolve(valid);
    if (this.stopped) return Promise.reject(this.shutdownError());
    if (this.inFlight) return this.inFlight;
    // While the source keeps failing, callers fail fast instead of each hammering it; a scheduled
    // retry keeps going, and an on-demand fetch is allowed again after the forced-refresh interval.
    if (this.failures > 0 && this.now() - this.lastAttemptAt < this.settings.forcedRefreshMinIntervalMs) {
      return Promise.reject(this.unavailableError());
    }
    return this.refresh();
  }

  /**
   * A new secret after the server rejected a login that began at `loginStartedAt`. Concurrent
   * callers share one fetch; a secret fetched after their login began is already the answer.
   */
  forceRefresh(loginStartedAt: number): Promise<FetchedSecret> {
    if (this.stopped) return Promise.reject(this.shutdownError());
    if (this.inFlight) return this.inFlight;
    if (this.current && this.current.fetchedAt >= loginStartedAt) return this.get();
    if (this.now() - this.lastForcedAt < this.settings.forcedRefreshMinIntervalMs) return this.get();
    this.lastForcedAt = this.now();
    this.logger.warn(`Login rejected with the current ${this.source.label}; fetching a new one`);
    return this.refresh();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  snapshot(): CredentialSnapshot {
    const current = this.current;
    return {
      source: this.source.kind,
      label: this.source.label,
      user: current?.user,
      expiresAt: current?.expiresAt,
      refreshedAt: current?.fetchedAt,
      nextRefreshAt: this.nextRefreshAt,
      refreshFailures: this.failures,
      lastError: this.lastError,
      requests: this.requests,
      // A fetch in flight is always the latest attempt.
      refreshingSince: this.inFlight ? this.lastAttemptAt : undefined,
    };
  }

  private refresh(): Promise<FetchedSecret> {
    if (this.inFlight) return this.inFlight;
    this.clearTimer();
    this.lastAttemptAt = this.now();
    this.requests += 1;
    let fetching: Promise<FetchedSecret>;
    try {
      fetching = this.source.fetch();
    } catch (error) {
      fetching = Promise.reject(error);
    }
    const flight = fetching.then(
      (secret) => {
        this.inFlight = undefined;
        this.succeeded(secret);
        return secret;
      },
      (error: unknown) => {
        this.inFlight = undefined;
        this.failed(error);
        throw this.unavailableError(error);
      },
    );
    this.inFlight = flight;
    return flight;
  }

  private succeeded(secret: FetchedSecret): void {
    // From now on every redaction also removes this exact secret, whatever its shape.
    rememberSecret(secret.password);
    const now = this.now();
    const unchanged = this.current?.password === secret.password && this.current.user === secret.user;
    this.current = { ...secret, fetchedAt: now };
    if (this.failures > 0) {
      this.logger.log(`Credential refresh recovered after ${this.failures} failed attempt(s)`);
    }
    this.failures = 0;
    this.lastError = undefined;
    const delay = this.stopped ? undefined : refreshDelay(secret, now, this.settings, this.random);
    if (delay === undefined) {
      this.nextRefreshAt = undefined;
    } else {
      this.schedule(delay);
      const expiry = secret.expiresAt === undefined ? 'no expiry' : `expires in ${seconds(secret.expiresAt - now)}`;
      const line = `Fetched ${unchanged ? 'the same' : 'a new'} ${this.source.label}; ${expiry}, next refresh in ${seconds(delay)}`;
      // A poll that finds nothing new is not an event worth a line at the default level.
      if (unchanged) this.logger.debug(line);
      else this.logger.log(line);
    }
    for (const listener of this.listeners) listener(secret);
  }

  private failed(error: unknown): void {
    this.failures += 1;
    this.lastError = describeCause(error);
    if (this.stopped) return;
    const delay = retryDelay(this.failures, this.settings, this.random);
    this.schedule(delay);
    // One line per failure streak; the streak's length is in the health details.
    if (this.failures === 1) {
      const valid = this.peek();
      const state = valid
        ? valid.expiresAt === undefined
          ? 'the current secret does not expire'
          : `the current secret stays valid for ${seconds(valid.expiresAt - this.now())}`
        : 'no valid secret is cached';
      this.logger.warn(
        `Refreshing the ${this.source.label} from ${this.source.description} failed: ${this.lastError}; ${state}; retrying with backoff`,
      );
    }
  }

  private schedule(delay: number): void {
    this.clearTimer();
    this.nextRefreshAt = this.now() + delay;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // Failures are recorded and logged in failed(); nobody awaits a scheduled refresh.
      this.refresh().catch(() => undefined);
    }, delay);
    // A refresh timer must never keep the process alive.
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.nextRefreshAt = undefined;
  }

  private unavailableError(cause?: unknown): EntraPgCredentialError {
    const current = this.current;
    const state =
      current?.expiresAt !== undefined
        ? `the last ${this.source.label} expired ${seconds(this.now() - current.expiresAt)} ago`
        : `no ${this.source.label} has been fetched yet`;
    const reason = cause !== undefined ? describeCause(cause) : this.lastError;
    const message =
      cause instanceof EntraPgCredentialError
        ? cause.message
        : `No usable credential for PostgreSQL connection "${this.connectionName}": ${state} and fetching one from ` +
          `${this.source.description} failed ${this.failures} time(s) (last error: ${reason}). ` +
          'Check that the identity or secret source is reachable and configured.';
    return new EntraPgCredentialError(message, this.connectionName, { cause });
  }

  private shutdownError(): EntraPgShutdownError {
    return new EntraPgShutdownError(
      `PostgreSQL connection "${this.connectionName}" is shutting down; no new credentials are fetched.`,
      this.connectionName,
    );
  }
}

function seconds(ms: number): string {
  return `${Math.max(0, Math.round(ms / 1000))} s`;
}

// The cache holds the secret: printing or serializing a refresher shows its state only.
printAs(CredentialRefresher, (refresher) => ({ ...refresher.snapshot() }));
