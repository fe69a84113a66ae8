import type { Logger } from '@nestjs/common';
import pg from 'pg';
import type { FetchedSecret } from '../credentials/secret-source.interface.js';
import { EntraPgShutdownError, describeCause } from '../entra-pg.errors.js';
import type { CredentialRefresher } from '../refresh/credential-refresher.js';
import { isLoginRejected } from './login-errors.js';
import { type ResolvedPoolConfig, toPgPoolConfig } from './pool-config.js';

/** Share of a connection's lifetime taken off at random, so connections do not all recycle together. */
const LIFETIME_JITTER = 0.2;
/** After the drain timeout, how long closed sockets get to report closing before we stop waiting. */
const SOCKET_CLOSE_GRACE_MS = 5_000;

type QueryCallback = (err: Error | undefined, result?: pg.QueryResult) => void;
type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

interface Waiter {
  settled: boolean;
  reject: (error: Error) => void;
}

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
  private readonly checkedOut = new Set<pg.PoolClient>();
  private readonly waiters = new Set<Waiter>();
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
    const acquiring = this.acquire();
    if (!callback) return acquiring;
    acquiring.then(
      (client) => callback(undefined, client, (release?: unknown) => client.release(release as Error | boolean)),
      (error: Error) => callback(error, undefined, () => undefined),
    );
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
    if (typeof values === 'function') {
      callback = values;
      values = undefined;
    }
    const running = this.run(text as string | pg.QueryConfig, values as unknown[] | undefined);
    if (typeof callback !== 'function') return running;
    const cb = callback as QueryCallback;
    running.then(
      (result) => cb(undefined, result),
      (error: Error) => cb(error),
    );
    return undefined;
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

  private async acquire(): Promise<pg.PoolClient> {
    if (this.ending) throw this.shutdownError();
    // A login must read a password that is already cached: the one fetch happens before any socket
    // opens. A checkout that pg-pool serves from an open connection needs no secret at all, so an
    // expired token with a failing identity service does not stop warm connections from serving.
    if (this.wouldOpenConnection() && !this.deps.refresher.peek()) await this.deps.refresher.get();
    const startedAt = Date.now();
    try {
      return await this.checkout();
    } catch (error) {
      if (!isLoginRejected(error) || this.ending) throw error;
      // The secret was revoked or rotated behind our back: one shared refresh, then one more try.
      await this.deps.refresher.forceRefresh(startedAt);
      return this.checkout();
    }
  }

  /** Whether pg-pool would answer a connect() now by opening a new connection (and so log in). */
  private wouldOpenConnection(): boolean {
    const pool = this.active;
    return !pool || (pool.idleCount === 0 && pool.totalCount < this.deps.config.max);
  }

  private checkout(): Promise<pg.PoolClient> {
    const pool = this.active;
    if (!pool) return Promise.reject(new Error('No credential has been fetched yet'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { settled: false, reject };
      this.waiters.add(waiter);
      pool.connect((error, client, done) => {
        this.waiters.delete(waiter);
        if (waiter.settled) {
          // Shutdown already answered this caller; the late client goes straight back and closes.
          if (client) done(true);
          return;
        }
        waiter.settled = true;
        if (error || !client) {
          reject(error ?? new Error('pg-pool returned no client'));
          return;
        }
        resolve(this.track(client));
      });
    });
  }

  private track(client: pg.PoolClient): pg.PoolClient {
    this.checkedOut.add(client);
    const release = client.release;
    client.release = (error?: Error | boolean) => {
      this.checkedOut.delete(client);
      release(error);
      this.changed();
    };
    return client;
  }

  private async run(text: string | pg.QueryConfig, values: unknown[] | undefined): Promise<pg.QueryResult> {
    const client = await this.acquire();
    let released = false;
    const releaseOnce = (error?: Error) => {
      if (released) return;
      released = true;
      client.removeListener('error', releaseOnce);
      client.release(error);
    };
    // A connection that dies mid-query emits 'error'; without this listener the process would crash.
    client.once('error', releaseOnce);
    try {
      const result = await client.query(text, values);
      releaseOnce();
      return result;
    } catch (error) {
      // A server-side SQL error leaves the connection usable; keep it warm. pg-pool itself drops
      // connections that are no longer queryable.
      releaseOnce(error instanceof pg.DatabaseError ? undefined : (error as Error));
      throw error;
    }
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
    pool.on('acquire', (client: pg.PoolClient) => this.emit('acquire', client));
    pool.on('release', (error: Error, client: pg.PoolClient) => this.emit('release', error, client));
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
    for (const waiter of this.waiters) {
      waiter.settled = true;
      waiter.reject(stopping);
    }
    this.waiters.clear();
    const pools = [...this.draining, ...(this.active ? [this.active] : [])];
    // Idle connections close now; checked-out ones close as they are released.
    for (const pool of pools) if (!pool.ending) pool.end().catch(() => undefined);
    const busy = this.checkedOut.size;
    if (busy > 0) {
      this.deps.logger.log(`Shutting down: waiting up to ${drainTimeoutMs} ms for ${busy} checked-out client(s)`);
    }
    const drained = await this.waitFor(() => this.checkedOut.size === 0, drainTimeoutMs);
    if (!drained) {
      this.deps.logger.warn(
        `Shutting down: ${this.checkedOut.size} client(s) still checked out after ${drainTimeoutMs} ms; closing their connections`,
      );
      for (const client of this.checkedOut) void client.end().catch(() => undefined);
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
    for (const listener of [...this.changeListeners]) listener();
  }

  private shutdownError(): EntraPgShutdownError {
    return new EntraPgShutdownError(
      `PostgreSQL pool "${this.deps.connectionName}" is shutting down; it takes no new work.`,
      this.deps.connectionName,
    );
  }
}
