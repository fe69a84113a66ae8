import type { Logger } from '@nestjs/common';
import { printAs } from '../common/print-as.js';
import { rememberSecret } from '../common/redact.js';
import type { FetchedSecret, SecretReader } from './fetched-secret.js';
import { EntraPgCredentialError, EntraPgShutdownError, describeCause } from '../entra-pg.errors.js';
import { MAX_TIMER_MS, type RefreshSettings, expiryProblem, refreshDelay, retryDelay } from './refresh-schedule.js';

/** What the health indicator reads; never holds the secret. */
export interface CredentialSnapshot {
  /** The source's label: what one secret is called in messages ("Entra token", "RDS IAM token"). */
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
  /** Fetched because the server refused a login, rather than on schedule. */
  forced: boolean;
}

type FlightOutcome = { secret: FetchedSecret } | { error: unknown };

interface Settle {
  resolve(secret: FetchedSecret): void;
  reject(error: unknown): void;
}

/** One fetch under way; `finish` settles it once, whichever of answer, timeout or stop comes first. */
interface Flight {
  promise: Promise<FetchedSecret>;
  timeout: NodeJS.Timeout | undefined;
  finish(outcome: FlightOutcome): void;
}

/**
 * Owns the current secret: fetches it ahead of expiry, one request at a time, and hands it out
 * synchronously so that opening a connection never waits on the identity service while a valid
 * secret is cached. Every fetch is bounded by `timeoutMs` and by stop(); no caller waits on a
 * source that never answers.
 */
export class CredentialRefresher {
  private current: CachedSecret | undefined;
  private flight: Flight | undefined;
  private timer: NodeJS.Timeout | undefined;
  private nextRefreshAt: number | undefined;
  private failures = 0;
  /** Fetches in a row that handed back the secret already held. */
  private unchangedInARow = 0;
  /** Forced secrets in a row that the server refused as well; reset by a successful login. */
  private refusedInARow = 0;
  private lastError: string | undefined;
  private lastAttemptAt = 0;
  private lastForcedAt = Number.NEGATIVE_INFINITY;
  private requests = 0;
  private isStopped = false;
  /** Connections using this refresher (secretFrom shares one); stop() ends it when the last one stops. */
  private users = 1;
  private readonly listeners: Array<(secret: FetchedSecret) => void> = [];
  private readonly attemptListeners: Array<(durationMs: number, error: unknown) => void> = [];

  constructor(
    private readonly source: SecretReader,
    private readonly settings: RefreshSettings,
    private readonly connectionName: string,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  /** What one secret is called in messages ("Entra token", "RDS IAM token"). */
  get label(): string {
    return this.source.label;
  }

  /** Called with every newly fetched secret, before callers waiting for it resume. */
  onSecret(listener: (secret: FetchedSecret) => void): void {
    this.listeners.push(listener);
  }

  /** Called when a fetch ends (not by stop()), with how long it took and its error (undefined: it succeeded); for metrics. */
  onAttempt(listener: (durationMs: number, error: unknown) => void): void {
    this.attemptListeners.push(listener);
  }

  /** The cached secret if new logins can still use it; no I/O. */
  peek(): FetchedSecret | undefined {
    const current = this.current;
    return current && (current.expiresAt === undefined || current.expiresAt > this.now()) ? current : undefined;
  }

  /**
   * A usable secret: the cached one, or the result of the one fetch in flight (started if needed).
   * While the source is failing, callers fail at once: the backoff timer alone retries, so neither a
   * burst of callers nor a slow-failing source makes each caller wait out an attempt of its own.
   */
  get(): Promise<FetchedSecret> {
    if (this.stopped) return Promise.reject(this.shutdownError());
    const valid = this.peek();
    if (valid) return Promise.resolve(valid);
    if (this.failures > 0) return Promise.reject(this.unavailableError());
    return this.refresh(false);
  }

  /** Like get(), but starts a fetch even while failing: for start-up, whose own retries are the backoff. */
  fetchNow(): Promise<FetchedSecret> {
    if (this.stopped) return Promise.reject(this.shutdownError());
    const valid = this.peek();
    if (valid) return Promise.resolve(valid);
    return this.refresh(false);
  }

  /**
   * A new secret after the server refused a login that began at `loginStartedAt`; concurrent callers
   * share one fetch, and a secret fetched after their login began is already the answer. Resolves
   * to undefined when no fresher secret is worth asking for: the last forced one was refused too
   * (a missing role or a pg_hba rule, not an old token), so asking again per caller would only
   * hammer the identity service.
   */
  forceRefresh(loginStartedAt: number): Promise<FetchedSecret | undefined> {
    if (this.stopped) return Promise.reject(this.shutdownError());
    if (this.flight) return this.flight.promise;
    const current = this.current;
    if (current && current.fetchedAt >= loginStartedAt) return this.get();
    const now = this.now();
    if (current?.forced && now - current.fetchedAt < retryDelay(this.refusedInARow + 1, this.settings, () => 1)) {
      return Promise.resolve(undefined);
    }
    if (now - this.lastForcedAt < this.settings.forcedRefreshMinIntervalMs) return this.get();
    if (current?.forced) this.refusedInARow += 1;
    this.lastForcedAt = now;
    this.logger.warn(`Login rejected with the current ${this.source.label}; fetching a new one`);
    return this.refresh(true);
  }

  /** A new secret now, for `rotate()`: joins a fetch under way, or starts one, whatever the cache holds. */
  refreshNow(): Promise<FetchedSecret> {
    if (this.stopped) return Promise.reject(this.shutdownError());
    return this.refresh(false);
  }

  /** Whether stop() has been called: no secret is handed out any more. */
  get stopped(): boolean {
    return this.isStopped;
  }

  /** A login succeeded: forced refreshes are worth trying again at once after the next refusal. */
  loginSucceeded(): void {
    this.refusedInARow = 0;
  }

  /** Stops the timer and answers every caller waiting on a fetch with an EntraPgShutdownError. */
  /** Another connection uses this refresher too (`secretFrom`): it stops when both have stopped it. */
  share(): this {
    this.users += 1;
    return this;
  }

  stop(): void {
    this.users -= 1;
    if (this.users > 0) return;
    this.isStopped = true;
    this.clearTimer();
    this.flight?.finish({ error: this.shutdownError() });
  }

  snapshot(): CredentialSnapshot {
    const current = this.current;
    return {
      label: this.source.label,
      user: current?.user,
      expiresAt: current?.expiresAt,
      refreshedAt: current?.fetchedAt,
      nextRefreshAt: this.nextRefreshAt,
      refreshFailures: this.failures,
      lastError: this.lastError,
      requests: this.requests,
      // A fetch in flight is always the latest attempt.
      refreshingSince: this.flight ? this.lastAttemptAt : undefined,
    };
  }

  private refresh(forced: boolean): Promise<FetchedSecret> {
    if (this.flight) return this.flight.promise;
    this.clearTimer();
    this.lastAttemptAt = this.now();
    this.requests += 1;
    const controller = new AbortController();
    const flight = this.startFlight(controller, forced);
    this.flight = flight;
    // A scheduled refresh has no caller; its outcome is recorded by finish().
    flight.promise.catch(() => undefined);
    flight.timeout = setTimeout(() => {
      flight.finish({
        error: new EntraPgCredentialError(
          `${this.source.description} did not answer within ${this.settings.timeoutMs} ms (refresh.timeoutMs)`,
          this.connectionName,
        ),
      });
    }, Math.min(this.settings.timeoutMs, MAX_TIMER_MS));
    flight.timeout.unref();
    try {
      this.source.fetch(controller.signal).then(
        (secret) => flight.finish({ secret }),
        (error: unknown) => flight.finish({ error }),
      );
    } catch (error) {
      flight.finish({ error });
    }
    return flight.promise;
  }

  /** A fetch's promise and the one way to settle it, whichever of answer, timeout or stop comes first. */
  private startFlight(controller: AbortController, forced: boolean): Flight {
    let settle!: Settle;
    const promise = new Promise<FetchedSecret>((resolve, reject) => (settle = { resolve, reject }));
    const flight: Flight = {
      promise,
      timeout: undefined,
      finish: (outcome) => {
        if (this.flight !== flight) return;
        this.flight = undefined;
        clearTimeout(flight.timeout);
        this.landed(outcome, controller, forced, settle);
      },
    };
    return flight;
  }

  /** What a finished fetch means: a usable secret, or a failure that backs off (a shutdown only rejects). */
  private landed(outcome: FlightOutcome, controller: AbortController, forced: boolean, settle: Settle): void {
    if ('secret' in outcome) {
      // From now on every redaction also removes this exact secret, whatever its shape.
      rememberSecret(outcome.secret.password);
      const problem = expiryProblem(outcome.secret, this.now(), this.source.label);
      if (problem === undefined) {
        this.attempted(undefined);
        this.succeeded(outcome.secret, forced);
        settle.resolve(outcome.secret);
        return;
      }
      outcome = { error: new EntraPgCredentialError(`${this.source.description}: ${problem}`, this.connectionName) };
    }
    // Tell the source to give up; whatever it answers later is ignored.
    controller.abort(outcome.error);
    if (outcome.error instanceof EntraPgShutdownError) {
      settle.reject(outcome.error);
      return;
    }
    this.attempted(outcome.error);
    this.failed(outcome.error);
    settle.reject(this.unavailableError(outcome.error));
  }

  private succeeded(secret: FetchedSecret, forced: boolean): void {
    const now = this.now();
    const unchanged = this.current?.password === secret.password && this.current.user === secret.user;
    this.current = { ...secret, fetchedAt: now, forced };
    if (this.failures > 0) {
      this.logger.log(`Credential refresh recovered after ${this.failures} failed attempt(s)`);
    }
    this.failures = 0;
    this.lastError = undefined;
    this.unchangedInARow = unchanged ? this.unchangedInARow + 1 : 0;
    let delay = this.stopped ? undefined : refreshDelay(secret, now, this.settings, this.random);
    // A caching source hands back the token already held until it decides to renew; asking again
    // as the expiry nears must back off like a failure, or the halving delays become a loop.
    if (delay !== undefined && unchanged && secret.expiresAt !== undefined) {
      delay = Math.max(delay, retryDelay(this.unchangedInARow, this.settings, this.random));
    }
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
    for (const listener of this.listeners) {
      try {
        listener(secret);
      } catch (error) {
        // A listener's failure must not leave the callers of this fetch unanswered.
        this.logger.error(`Handling the new ${this.source.label} failed: ${describeCause(error)}`);
      }
    }
  }

  private attempted(error: unknown): void {
    const durationMs = this.now() - this.lastAttemptAt;
    // An observer's failure must not change what the fetch's callers get.
    for (const listener of this.attemptListeners) {
      try {
        listener(durationMs, error);
      } catch {
        /* metrics are best effort */
      }
    }
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

  /** Arms the next refresh `delay` ms from now, in steps no longer than setTimeout honours. */
  private schedule(delay: number): void {
    this.clearTimer();
    const dueAt = this.now() + delay;
    this.nextRefreshAt = dueAt;
    const arm = (wait: number) => {
      const capped = wait > MAX_TIMER_MS;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (capped) {
          arm(Math.max(1, dueAt - this.now()));
          return;
        }
        this.refresh(false);
      }, capped ? MAX_TIMER_MS : wait);
      // A refresh timer must never keep the process alive.
      this.timer.unref();
    };
    arm(delay);
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
    const next = this.nextRefreshAt === undefined ? '' : ` The next attempt is in ${seconds(this.nextRefreshAt - this.now())}.`;
    const message =
      cause instanceof EntraPgCredentialError
        ? cause.message
        : `No usable credential for PostgreSQL connection "${this.connectionName}": ${state} and fetching one from ` +
          `${this.source.description} failed ${this.failures} time(s) (last error: ${reason}).${next} ` +
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
