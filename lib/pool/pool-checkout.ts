import type pg from 'pg';
import { loginRefusedHint } from '../diagnostics/boot-hint.js';
import { EntraPgUnreachableError, EntraPgCredentialError, EntraPgLoginRefusedError, describeCause } from '../entra-pg.errors.js';
import { LOGIN_RETRY_DEFAULTS } from '../options/entra-pg.defaults.js';
import { isTransientLoginError, reachabilityOf } from './connect-retry.js';
import { isLoginRejected } from './login-errors.js';
import { isDeadBeforeUse } from './pg-internals.js';
import type { PoolGenerations } from './pool-generations.js';
import { type AcquireCallback, type EntraPgPoolDependencies, type EntraPgPoolHost, RetiredGenerationError, shutdownError } from './pool-types.js';
import { WrongSessionTypeError } from './server-selection.js';

// Getting a client for a caller: the secret, the active generation, a refused login retried with a
// fresh secret, an outage ridden through until the caller's deadline; every waiting caller in one list.

/**
 * Gets a client for a caller: waits for the secret a login needs, checks out from the active
 * generation, and after a refused login retries once with a freshly fetched secret. Every caller
 * waits in `waiters`, so shutdown or a rotation can answer it.
 */
export class PoolCheckout {
  constructor(
    private readonly host: EntraPgPoolHost,
    private readonly deps: EntraPgPoolDependencies,
    private readonly generations: PoolGenerations,
    private readonly waiters: WaiterList,
  ) {}

  /**
   * Gets a client, in callbacks rather than promises: this is the path of every query, and pg-pool
   * itself is callback-based underneath.
   */
  acquire(callback: AcquireCallback): void {
    if (this.host.probe !== undefined) callback = this.host.probe.acquiring(callback);
    if (this.host.ending) {
      process.nextTick(callback, shutdownError(this.deps.connectionName));
      return;
    }
    // A login must read a password that is already cached: the one fetch happens before any socket
    // opens. A checkout that pg-pool serves from an open connection needs no secret at all, so an
    // expired token with a failing identity service does not stop warm connections from serving.
    const opening = this.generations.wouldOpenConnection();
    if (opening && !this.deps.refresher.peek()) {
      this.awaitSecret(callback);
      return;
    }
    this.checkout(false, callback, 0, opening);
  }

  /** The callers queued on a retired generation's `pool` move to the active generation. */
  requeue(pool: pg.Pool): void {
    for (const waiter of this.waiters.takeQueuedOn(pool)) this.checkout(waiter.retried, waiter.callback, waiter.deadline);
  }

  /** Waits for the refresher's fetch before a login, bounded by pool.connectionTimeoutMillis. */
  private awaitSecret(callback: AcquireCallback): void {
    this.waitForSecret(this.deps.refresher.get(), this.deps.config.connectionTimeoutMillis, callback, () => this.checkout(false, callback));
  }

  /**
   * Waits for a secret on a caller's behalf: tracked so that shutdown answers the caller, and
   * bounded by what is left of its connection timeout (`remainingMs`; 0 or less with a timeout
   * configured means it is already used up).
   */
  private waitForSecret<T>(secret: Promise<T>, remainingMs: number, callback: AcquireCallback, then: (value: T) => void): void {
    const waiter = this.waiters.add(callback, undefined, false);
    const timeoutMs = this.deps.config.connectionTimeoutMillis;
    let timer: NodeJS.Timeout | undefined;
    const settle = (): boolean => {
      clearTimeout(timer);
      if (waiter.settled) return false;
      waiter.settled = true;
      this.waiters.remove(waiter);
      return true;
    };
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        if (!settle()) return;
        callback(
          new EntraPgCredentialError(
            `No ${this.deps.refresher.label} arrived within pool.connectionTimeoutMillis (${timeoutMs} ms) for a new ` +
              `connection of "${this.deps.connectionName}"; the fetch is still under way (bounded by refresh.timeoutMs).`,
            this.deps.connectionName,
          ),
        );
      }, Math.max(0, remainingMs));
      timer.unref();
    }
    secret.then(
      (value) => {
        if (settle()) then(value);
      },
      (error: Error) => {
        if (settle()) callback(error);
      },
    );
  }

  /**
   * `deadline` (epoch ms) is set once a login has failed for a reason that passes: the caller then
   * rides through the outage, checking out again until it, while the login gate paces the logins.
   * `opening`: pg-pool will open a connection for this caller (see PoolShutdown: such logins may finish).
   */
  private checkout(retried: boolean, callback: AcquireCallback, deadline = 0, opening = this.generations.wouldOpenConnection()): void {
    if (this.host.ending) {
      callback(shutdownError(this.deps.connectionName));
      return;
    }
    const generation = this.generations.active;
    if (!generation) {
      callback(new EntraPgCredentialError('No credential has been fetched yet', this.deps.connectionName));
      return;
    }
    const pool = generation.pool;
    const startedAt = Date.now();
    // Every caller is tracked, even one an idle connection will serve: several callers in the same
    // tick all see that one idle connection, and pg-pool hands it out only on the next tick.
    const waiter = this.waiters.add(callback, pool, retried, opening, deadline);
    const timer = deadline > 0 ? this.expireAt(deadline, waiter) : undefined;
    pool.connect((error, client, done) => {
      this.waiters.remove(waiter);
      if (waiter.settled) {
        // Shutdown, a rotation or the caller's deadline already answered this caller; the late
        // client goes back to its pool unless that pool is closing.
        if (client) done(this.host.ending || pool !== this.generations.active?.pool);
        return;
      }
      waiter.settled = true;
      if (timer !== undefined) clearTimeout(timer);
      // Still unanswered once shutdown began: a login that `end()` lets finish, as pg-pool does.
      const spared = this.host.ending && waiter.opening;
      if (client) {
        if (this.host.ending && !spared) {
          done(true);
          callback(shutdownError(this.deps.connectionName));
          return;
        }
        if (isDeadBeforeUse(client)) {
          // The server closed this idle connection and nothing was sent on it yet: another one serves.
          done(true);
          this.checkout(retried, callback, deadline);
          return;
        }
        callback(undefined, client);
        return;
      }
      if (this.host.ending) {
        callback(spared && error && !(error instanceof RetiredGenerationError) ? error : shutdownError(this.deps.connectionName));
      } else if (error instanceof RetiredGenerationError || error instanceof WrongSessionTypeError) {
        // Its generation retired while it logged in: the active generation serves it instead. Or
        // its server did not fit targetSessionAttrs: the next login goes to another host.
        this.checkout(retried, callback, deadline);
      } else if (isTransientLoginError(error)) {
        this.rideThrough(retried, deadline || startedAt + this.retryWindowMs(), error, callback);
      } else if (!isLoginRejected(error)) {
        callback(error ?? new Error('pg-pool returned no client'));
      } else if (retried) {
        callback(this.loginRefusedError(error));
      } else {
        this.retryWithNewSecret(startedAt, error, callback);
      }
    });
  }

  /** How long a caller may ride through an outage: its connectionTimeoutMillis, or the module's default when that is 0. */
  private retryWindowMs(): number {
    return this.deps.config.connectionTimeoutMillis || LOGIN_RETRY_DEFAULTS.deadlineMs;
  }

  /**
   * A login failed for a reason that passes (server restarting, unreachable, full): the caller
   * checks out again at once (its new login waits at the login gate, so this is no loop), until
   * its deadline; after that it gets the last login error.
   */
  private rideThrough(retried: boolean, deadline: number, error: Error | undefined, callback: AcquireCallback): void {
    // The server may have moved (a failover repointing DNS): the next logins follow the name.
    this.generations.dns.recheckNow();
    if (Date.now() >= deadline) {
      callback(this.unreachableError(error));
      return;
    }
    this.checkout(retried, callback, deadline);
  }

  /** Answers a riding-through caller at its deadline, if pg-pool has not by then. */
  private expireAt(deadline: number, waiter: Waiter): NodeJS.Timeout {
    const timer = setTimeout(() => {
      if (waiter.settled) return;
      waiter.settled = true;
      this.waiters.remove(waiter);
      waiter.callback(this.unreachableError(undefined));
    }, Math.max(1, deadline - Date.now()));
    timer.unref();
    return timer;
  }

  private unreachableError(lastError: Error | undefined): Error {
    const gate = reachabilityOf(this.host);
    const last = lastError ? describeCause(lastError) : (gate?.lastError ?? 'no login finished');
    const configured = this.deps.config.connectionTimeoutMillis;
    const window = configured > 0 ? `pool.connectionTimeoutMillis (${configured} ms)` : `${LOGIN_RETRY_DEFAULTS.deadlineMs} ms (pool.connectionTimeoutMillis is 0)`;
    const where =
      this.deps.config.hosts.length > 1 || this.deps.config.targetSessionAttrs !== 'any'
        ? `any of its hosts (${this.generations.hosts.describe()})`
        : `${this.deps.config.host}:${this.deps.config.port}`;
    return new EntraPgUnreachableError(
      `No connection of "${this.deps.connectionName}" to ${where} could be opened within ` +
        `${window}; logins were retried with backoff. Last error: ${last}. Check that the server is up and reachable from here.`,
      this.deps.connectionName,
      { cause: lastError },
    );
  }

  /** The secret was revoked or rotated behind our back: one shared refresh, then one more try. */
  private retryWithNewSecret(loginStartedAt: number, loginError: Error | undefined, callback: AcquireCallback): void {
    this.host.probe?.loginRetried();
    const remainingMs = loginStartedAt + this.deps.config.connectionTimeoutMillis - Date.now();
    this.waitForSecret(this.deps.refresher.forceRefresh(loginStartedAt), remainingMs, callback, (secret) =>
      secret ? this.checkout(true, callback) : callback(this.loginRefusedError(loginError)),
    );
  }

  private loginRefusedError(loginError: Error | undefined): EntraPgLoginRefusedError {
    const code = (loginError as { code?: string } | undefined)?.code;
    const user = this.generations.active?.user ?? this.deps.config.user;
    return new EntraPgLoginRefusedError(
      `PostgreSQL refused the login of "${this.deps.connectionName}" as "${user}" even with a freshly fetched ` +
        `${this.deps.refresher.label}: ${describeCause(loginError)}. ` +
        // The cause read from the server's answer and the token's claims (lib/diagnostics); no extra round trip.
        loginRefusedHint(loginError, this.deps.config, user, this.deps.refresher.peek()?.password),
      this.deps.connectionName,
      code,
      { cause: loginError },
    );
  }
}

/** A caller waiting for a connection (or for the secret its login needs); shutdown answers it if nothing else has. */
export interface Waiter {
  settled: boolean;
  callback: AcquireCallback;
  /** The generation's pg.Pool it is queued on; undefined while it waits for a secret. */
  pool: pg.Pool | undefined;
  /** Whether its login has already been retried with a new secret. */
  retried: boolean;
  /** pg-pool opens a connection for this caller (it found no idle one and had room). */
  opening: boolean;
  /** When a caller riding through an outage gives up (epoch ms; 0: not riding through); kept across a requeue. */
  deadline: number;
  prev: Waiter | undefined;
  next: Waiter | undefined;
}

/**
 * The callers waiting for a connection, as an intrusive doubly linked list. Every query joins and
 * leaves it; a Set keyed by fresh objects costs more than the rest of the pool wrapper.
 */
export class WaiterList {
  private head: Waiter | undefined;

  add(callback: AcquireCallback, pool: pg.Pool | undefined, retried: boolean, opening = false, deadline = 0): Waiter {
    const waiter: Waiter = { settled: false, callback, pool, retried, opening, deadline, prev: undefined, next: this.head };
    if (this.head) this.head.prev = waiter;
    this.head = waiter;
    return waiter;
  }

  /** Unlinks a waiter; a no-op for one already removed. */
  remove(waiter: Waiter): void {
    if (waiter.prev) waiter.prev.next = waiter.next;
    else if (this.head === waiter) this.head = waiter.next;
    if (waiter.next) waiter.next.prev = waiter.prev;
    waiter.prev = undefined;
    waiter.next = undefined;
  }

  /** Settles and removes the waiters queued on `pool`, oldest first, and returns them. */
  takeQueuedOn(pool: pg.Pool): Waiter[] {
    const taken: Waiter[] = [];
    for (let waiter = this.head; waiter; ) {
      const next = waiter.next;
      if (waiter.pool === pool && !waiter.settled) {
        this.remove(waiter);
        waiter.settled = true;
        taken.unshift(waiter);
      }
      waiter = next;
    }
    return taken;
  }

  /** Whether no caller is waiting. */
  isEmpty(): boolean {
    return this.head === undefined;
  }

  /**
   * Settles and removes every waiter with `error`, oldest first, except those `spare` keeps. A
   * callback that throws does not stop the others from being answered; its error is re-raised on
   * the next tick, as pg would.
   */
  failAll(error: Error, spare?: (waiter: Waiter) => boolean): void {
    const all: Waiter[] = [];
    for (let waiter = this.head; waiter; waiter = waiter.next) if (!spare?.(waiter)) all.push(waiter);
    for (const waiter of all) this.remove(waiter);
    for (let i = all.length - 1; i >= 0; i -= 1) {
      const waiter = all[i]!;
      if (waiter.settled) continue;
      waiter.settled = true;
      try {
        waiter.callback(error);
      } catch (thrown) {
        process.nextTick(() => {
          throw thrown;
        });
      }
    }
  }
}
