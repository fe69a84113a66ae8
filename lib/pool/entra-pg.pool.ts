import type { Logger } from '@nestjs/common';
import pg from 'pg';
import { printAs } from '../common/print-as.js';
import type { FetchedSecret } from '../credentials/secret-source.interface.js';
import { EntraPgShutdownError, describeCause } from '../entra-pg.errors.js';
import type { CredentialRefresher } from '../refresh/credential-refresher.js';
import { isLoginRejected } from './login-errors.js';
import { type ResolvedPoolConfig, toPgPoolConfig } from './pool-config.js';
import { WaiterList } from './waiter-list.js';

/** Share of a connection's lifetime taken off at random, so connections do not all recycle together. */
const LIFETIME_JITTER = 0.2;
/** After the drain timeout, how long closed sockets get to report closing before we stop waiting. */
const SOCKET_CLOSE_GRACE_MS = 5_000;

type QueryCallback = (err: Error | undefined, result?: pg.QueryResult) => void;
type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

type AcquireCallback = (error: Error | undefined, client?: pg.PoolClient) => void;

export interface EntraPgPoolDependencies {
  config: ResolvedPoolConfig;
  refresher: CredentialRefresher;
  connectionName: string;
  logger: Logger;
}

/**
 * The object injected as PG_POOL: one pg.Pool for the app's whole life. Behind it, one pg.Pool
 * per identity ("generation"); a token refresh keeps the generation (PostgreSQL checks a token
 * only at login, so open connections stay), a change of user or `rotate()` starts a new one and
 * lets the old one drain.
 */
export class EntraPgPool extends pg.Pool {
  private active: pg.Pool | undefined;
  private activeUser: string | undefined;
  private readonly draining = new Set<pg.Pool>();
  private readonly sockets = new Set<pg.Client>();
  /** Clients handed out and not yet released, counted from pg-pool's own acquire/release events. */
  private checkedOut = 0;
  private readonly waiters = new WaiterList();
  private readonly changeListeners = new Set<() => void>();
  private shutdownPromise: Promise<void> | undefined;
  private rotationCount = 0;
  private readonly deps: EntraPgPoolDependencies;

  constructor(deps: EntraPgPoolDependencies) {
    // The base pool only carries `options` for code that reads them; it never opens a connection.
    super({ ...toPgPoolConfig(deps.config, deps.config.user, () => ''), password: undefined });
    this.deps = deps;
    deps.refresher.onSecret((secret) => this.adopt(secret));
  }

  /** Times the pool moved to a new generation (identity change or `rotate()`). */
  get rotations(): number {
    return this.rotationCount;
  }

  // pg-pool defines its counters as accessors, but @types/pg declares them as properties, which a
  // subclass may not redeclare as accessors; so they are defined here, summed over all generations.
  static {
    for (const counter of ['totalCount', 'idleCount', 'waitingCount', 'expiredCount'] as const) {
      Object.defineProperty(EntraPgPool.prototype, counter, {
        configurable: true,
        get(this: EntraPgPool): number {
          let total = this.active ? this.active[counter] : 0;
          for (const pool of this.draining) total += pool[counter];
          return total;
        },
      });
    }
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | void {
    if (callback) {
      this.acquire((error, client) =>
        client ? callback(undefined, client, (release?: unknown) => client.release(release as Error | boolean)) : callback(error, undefined, () => undefined),
      );
      return;
    }
    return new Promise((resolve, reject) => this.acquire((error, client) => (client ? resolve(client) : reject(error))));
  }

  // These overloads repeat @types/pg's Pool.query so callers keep pg's exact types.
  /* eslint-disable @typescript-eslint/no-explicit-any */
  override query<T extends pg.Submittable>(queryStream: T): T;
  override query<R extends any[] = any[], I = any[]>(
    queryConfig: pg.QueryArrayConfig<I>,
    values?: pg.QueryConfigValues<I>,
  ): Promise<pg.QueryArrayResult<R>>;
  override query<R extends pg.QueryResultRow = any, I = any[]>(queryConfig: pg.QueryConfig<I>): Promise<pg.QueryResult<R>>;
  override query<R extends pg.QueryResultRow = any, I = any[]>(
    queryTextOrConfig: string | pg.QueryConfig<I>,
    values?: pg.QueryConfigValues<I>,
  ): Promise<pg.QueryResult<R>>;
  override query<R extends any[] = any[], I = any[]>(
    queryConfig: pg.QueryArrayConfig<I>,
    callback: (err: Error, result: pg.QueryArrayResult<R>) => void,
  ): void;
  override query<R extends pg.QueryResultRow = any, I = any[]>(
    queryTextOrConfig: string | pg.QueryConfig<I>,
    callback: (err: Error, result: pg.QueryResult<R>) => void,
  ): void;
  override query<R extends pg.QueryResultRow = any, I = any[]>(
    queryText: string,
    values: pg.QueryConfigValues<I>,
    callback: (err: Error, result: pg.QueryResult<R>) => void,
  ): void;
  /* eslint-enable @typescript-eslint/no-explicit-any */
  override query(text: unknown, values?: unknown, callback?: unknown): unknown {
    if (typeof text === 'function') {
      return Promise.reject(new TypeError('Passing a function as the first parameter to pool.query is not supported'));
    }
    if (typeof (text as { submit?: unknown } | null)?.submit === 'function') {
      // pg never calls back for a Submittable, so the connection would never be released.
      return Promise.reject(
        new TypeError(
          'pool.query does not take a Submittable (Cursor, QueryStream); check out a client with pool.connect() and release it when the stream ends',
        ),
      );
    }
    if (typeof values === 'function') {
      callback = values;
      values = undefined;
    }
    const sql = text as string | pg.QueryConfig;
    const params = values as unknown[] | undefined;
    if (typeof callback === 'function') {
      this.run(sql, params, callback as QueryCallback);
      return undefined;
    }
    return new Promise((resolve, reject) => this.run(sql, params, (error, result) => (error ? reject(error) : resolve(result))));
  }

  override end(): Promise<void>;
  override end(callback: () => void): void;
  override end(callback?: () => void): Promise<void> | void {
    const ending = this.shutdown();
    if (!callback) return ending;
    ending.then(callback, callback);
  }

  /**
   * Closes the pool: new and queued callers get an EntraPgShutdownError at once, checked-out
   * clients have `drainTimeoutMs` to be released before their connections are closed anyway.
   * Resolves when every socket has closed. A second call returns the first call's promise.
   */
  shutdown(drainTimeoutMs = 10_000): Promise<void> {
    this.shutdownPromise ??= this.closeEverything(drainTimeoutMs);
    return this.shutdownPromise;
  }

  /** Moves new connections to a fresh pg.Pool with a newly fetched secret; the old one drains. */
  async rotate(): Promise<void> {
    const before = this.active;
    const secret = await this.deps.refresher.forceRefresh(Date.now());
    // A new user has already started a generation in adopt(); otherwise start one here.
    if (this.active === before) this.startGeneration(secret.user, 'rotate() was called');
  }

  /**
   * Gets a client, in callbacks rather than promises: this is the path of every query, and pg-pool
   * itself is callback-based underneath.
   */
  private acquire(callback: AcquireCallback): void {
    if (this.ending) {
      process.nextTick(callback, this.shutdownError());
      return;
    }
    // A login must read a password that is already cached: the one fetch happens before any socket
    // opens. A checkout that pg-pool serves from an open connection needs no secret at all, so an
    // expired token with a failing identity service does not stop warm connections from serving.
    if (this.wouldOpenConnection() && !this.deps.refresher.peek()) {
      this.deps.refresher.get().then(
        () => this.checkout(false, callback),
        (error: Error) => callback(error),
      );
      return;
    }
    this.checkout(false, callback);
  }

  /** Whether pg-pool would answer a connect() now by opening a new connection (and so log in). */
  private wouldOpenConnection(): boolean {
    const pool = this.active;
    return !pool || (pool.idleCount === 0 && pool.totalCount < this.deps.config.max);
  }

  private checkout(retried: boolean, callback: AcquireCallback): void {
    const pool = this.active;
    if (!pool) {
      callback(new Error('No credential has been fetched yet'));
      return;
    }
    if (this.ending) {
      callback(this.shutdownError());
      return;
    }
    const startedAt = Date.now();
    // Only a caller that will wait (queued, or logging in) is tracked for shutdown; one served from
    // an idle connection gets it on the next tick.
    const waiter = pool.idleCount === 0 ? this.waiters.add(callback) : undefined;
    pool.connect((error, client, done) => {
      if (waiter) {
        this.waiters.remove(waiter);
        if (waiter.settled) {
          // Shutdown already answered this caller; the late client goes straight back and closes.
          if (client) done(true);
          return;
        }
        waiter.settled = true;
      }
      if (client) {
        if (this.ending) {
          done(true);
          callback(this.shutdownError());
          return;
        }
        callback(undefined, client);
        return;
      }
      if (retried || this.ending || !isLoginRejected(error)) {
        callback(error ?? new Error('pg-pool returned no client'));
        return;
      }
      this.retryWithNewSecret(startedAt, callback);
    });
  }

  /** The secret was revoked or rotated behind our back: one shared refresh, then one more try. */
  private retryWithNewSecret(loginStartedAt: number, callback: AcquireCallback): void {
    this.deps.refresher.forceRefresh(loginStartedAt).then(
      () => this.checkout(true, callback),
      (refreshError: Error) => callback(refreshError),
    );
  }

  private run(text: string | pg.QueryConfig, values: unknown[] | undefined, callback: QueryCallback): void {
    this.acquire((acquireError, client) => {
      if (!client) {
        callback(acquireError);
        return;
      }
      let released = false;
      // A connection that dies mid-query emits 'error'; without this listener the process would crash.
      const onError = (error: Error) => {
        if (released) return;
        released = true;
        client.release(error);
        callback(error);
      };
      client.once('error', onError);
      // pg takes a config object and undefined values here too (a config keeps its own values);
      // @types/pg types only the text-and-array form of this overload.
      client.query(text as string, values as unknown[], (error: Error | null, result: pg.QueryResult) => {
        client.removeListener('error', onError);
        if (released) return;
        released = true;
        // A server-side SQL error leaves the connection usable; keep it warm. pg-pool itself drops
        // connections that are no longer queryable.
        client.release(error && !(error instanceof pg.DatabaseError) ? error : undefined);
        if (error) callback(error);
        else callback(undefined, result);
      });
    });
  }

  /** A new secret arrived: a new identity gets a new generation, the same identity keeps its connections. */
  private adopt(secret: FetchedSecret): void {
    if (this.ending) return;
    if (!this.active) {
      this.startGeneration(secret.user, undefined);
    } else if (secret.user !== this.activeUser) {
      this.startGeneration(secret.user, `the user changed from "${this.activeUser}" to "${secret.user}"`);
    }
  }

  private startGeneration(user: string | undefined, reason: string | undefined): void {
    const previous = this.active;
    const pool = new pg.Pool(toPgPoolConfig(this.deps.config, user, () => this.password()));
    this.jitterLifetime(pool);
    this.forwardEvents(pool);
    this.active = pool;
    this.activeUser = user;
    if (previous) {
      this.rotationCount += 1;
      this.deps.logger.log(`Rotating to a new pool: ${reason}; the previous pool drains`);
      this.retire(previous);
    }
  }

  /** Password for the login under way; the cache is filled before any connect, so this is synchronous. */
  private password(): string | Promise<string> {
    const secret = this.deps.refresher.peek();
    if (secret) return secret.password;
    return this.deps.refresher.get().then((fresh) => fresh.password);
  }

  /**
   * pg-pool gives every connection the same fixed lifetime; reading it through a getter gives each
   * new connection its own, so a pool opened in one burst does not reconnect in one burst.
   */
  private jitterLifetime(pool: pg.Pool): void {
    const seconds = this.deps.config.maxLifetimeSeconds;
    Object.defineProperty(pool.options, 'maxLifetimeSeconds', {
      configurable: true,
      get: () => (seconds > 0 ? seconds * (1 - Math.random() * LIFETIME_JITTER) : 0),
    });
  }

  private forwardEvents(pool: pg.Pool): void {
    pool.on('connect', (client: pg.PoolClient) => {
      this.sockets.add(client);
      client.once('end', () => {
        this.sockets.delete(client);
        this.changed();
      });
      this.emit('connect', client);
    });
    pool.on('acquire', (client: pg.PoolClient) => {
      this.checkedOut += 1;
      this.emit('acquire', client);
    });
    pool.on('release', (error: Error, client: pg.PoolClient) => {
      this.checkedOut -= 1;
      this.emit('release', error, client);
      this.changed();
    });
    pool.on('remove', (client: pg.PoolClient) => this.emit('remove', client));
    pool.on('error', (error: Error, client: pg.PoolClient) => {
      // pg-pool has already removed the broken client; a later connect opens a new one.
      this.deps.logger.warn(`An idle connection failed and was removed: ${describeCause(error)}`);
      // Re-emitting without a listener would crash the process, which is what this pool exists to avoid.
      if (this.listenerCount('error') > 0) this.emit('error', error, client);
    });
  }

  /** Lets an old generation finish: callers queued on it are served first, then it ends. */
  private retire(pool: pg.Pool): void {
    this.draining.add(pool);
    const tryEnd = () => {
      if (pool.waitingCount > 0 || pool.ending) return;
      pool.off('release', onRelease);
      pool.end().then(
        () => this.draining.delete(pool),
        () => this.draining.delete(pool),
      );
    };
    const onRelease = () => setImmediate(tryEnd);
    pool.on('release', onRelease);
    tryEnd();
  }

  private async closeEverything(drainTimeoutMs: number): Promise<void> {
    (this as { ending: boolean }).ending = true;
    this.deps.refresher.stop();
    const stopping = this.shutdownError();
    this.waiters.failAll(stopping);
    const pools = [...this.draining, ...(this.active ? [this.active] : [])];
    // Idle connections close now; checked-out ones close as they are released.
    for (const pool of pools) if (!pool.ending) pool.end().catch(() => undefined);
    const busy = this.checkedOut;
    if (busy > 0) {
      this.deps.logger.log(`Shutting down: waiting up to ${drainTimeoutMs} ms for ${busy} checked-out client(s)`);
    }
    const drained = await this.waitFor(() => this.checkedOut <= 0, drainTimeoutMs);
    if (!drained) {
      this.deps.logger.warn(
        `Shutting down: ${this.checkedOut} client(s) still checked out after ${drainTimeoutMs} ms; closing their connections`,
      );
      // The pools have ended, so every connection still open is a checked-out one.
      for (const client of this.sockets) void client.end().catch(() => undefined);
    }
    const closed = await this.waitFor(() => this.sockets.size === 0, SOCKET_CLOSE_GRACE_MS);
    if (!closed) {
      for (const client of this.sockets) {
        (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      }
      await this.waitFor(() => this.sockets.size === 0, SOCKET_CLOSE_GRACE_MS);
    }
    (this as { ended: boolean }).ended = true;
    this.deps.logger.log('Pool closed');
  }

  private waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    if (condition()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!condition()) return;
        finish(true);
      };
      const finish = (result: boolean) => {
        clearTimeout(timer);
        this.changeListeners.delete(check);
        resolve(result);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.changeListeners.add(check);
    });
  }

  private changed(): void {
    // Runs on every release; only shutdown registers listeners, so the common case allocates nothing.
    if (this.changeListeners.size === 0) return;
    for (const listener of [...this.changeListeners]) listener();
  }

  private shutdownError(): EntraPgShutdownError {
    return new EntraPgShutdownError(
      `PostgreSQL pool "${this.deps.connectionName}" is shutting down; it takes no new work.`,
      this.deps.connectionName,
    );
  }
}

// Below the pool are the refresher and its secret: printing or serializing PG_POOL shows counters only.
printAs(EntraPgPool, (pool) => ({
  host: pool.options.host,
  database: pool.options.database,
  totalCount: pool.totalCount,
  idleCount: pool.idleCount,
  waitingCount: pool.waitingCount,
  ending: pool.ending,
  ended: pool.ended,
}));
