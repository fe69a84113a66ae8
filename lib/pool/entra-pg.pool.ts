import pg from 'pg';
import { printAs } from '../common/print-as.js';
import type { EntraPgPoolDependencies } from './entra-pg-pool-dependencies.interface.js';
import { PoolChanges } from './pool-changes.js';
import { PoolCheckout } from './pool-checkout.js';
import { toPgPoolConfig } from './pool-config.js';
import { PoolGenerations } from './pool-generations.js';
import type { EntraPgPoolProbe } from './pool-probe.interface.js';
import { PoolShutdown } from './pool-shutdown.js';
import { shutdownError } from './shutdown-error.js';
import { WaiterList } from './waiter-list.js';
import { isConnectionGone } from './login-errors.js';

export type { EntraPgPoolDependencies } from './entra-pg-pool-dependencies.interface.js';

type QueryCallback = (err: Error | undefined, result?: pg.QueryResult) => void;
type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

/**
 * The object injected as PG_POOL: one pg.Pool for the app's whole life, with pg.Pool's API. Behind
 * it, one pg.Pool per identity (PoolGenerations); getting a client is PoolCheckout's job, closing
 * PoolShutdown's. A token refresh keeps the connections, a change of user or `rotate()` starts a
 * new generation and lets the old one drain. Connections across generations never exceed `pool.max`.
 */
export class EntraPgPool extends pg.Pool {
  private readonly generations: PoolGenerations;
  private readonly checkouts: PoolCheckout;
  private readonly closer: PoolShutdown;
  private consumerEnds = 0;
  private readonly deps: EntraPgPoolDependencies;
  /** Set by lib/metrics when a MeterProvider is registered; see EntraPgPoolProbe. */
  probe: EntraPgPoolProbe | undefined;

  constructor(deps: EntraPgPoolDependencies) {
    // The base pool only carries `options` for code that reads them; it never opens a connection.
    super({ ...toPgPoolConfig(deps.config, deps.config.user, () => ''), password: undefined });
    this.deps = deps;
    const changes = new PoolChanges();
    const waiters = new WaiterList();
    this.generations = new PoolGenerations(this, deps, changes, (pool) => this.checkouts.requeue(pool));
    this.checkouts = new PoolCheckout(this, deps, this.generations, waiters);
    this.closer = new PoolShutdown(this, deps, this.generations, waiters, changes);
    deps.refresher.onSecret((secret) => this.generations.adopt(secret));
  }

  /** Times the pool moved to a new generation (identity change or `rotate()`). */
  get rotations(): number {
    return this.generations.rotations;
  }

  // pg-pool defines its counters as accessors, but @types/pg declares them as properties, which a
  // subclass may not redeclare as accessors; so they are defined here, summed over all generations.
  static {
    for (const counter of ['totalCount', 'idleCount', 'expiredCount'] as const) {
      Object.defineProperty(EntraPgPool.prototype, counter, {
        configurable: true,
        get(this: EntraPgPool): number {
          return this.generations.sum(counter);
        },
      });
    }
    // A retired generation's queue holds only callers already moved to the active one.
    Object.defineProperty(EntraPgPool.prototype, 'waitingCount', {
      configurable: true,
      get(this: EntraPgPool): number {
        const active = this.generations.active;
        return active ? active.pool.waitingCount : 0;
      },
    });
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | void {
    if (callback) {
      this.checkouts.acquire((error, client) =>
        client ? callback(undefined, client, (release?: unknown) => client.release(release as Error | boolean)) : callback(error, undefined, () => undefined),
      );
      return;
    }
    return new Promise((resolve, reject) => this.checkouts.acquire((error, client) => (client ? resolve(client) : reject(error))));
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
      return this.submit(text as pg.Submittable);
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

  /**
   * The pool belongs to the module: while the app runs, a consumer's `end()` (an ORM closing) is
   * ignored with a one-time warning unless `consumerEnd: 'shutdown'`; once shutdown has begun it
   * resolves with it. Either way it never rejects, and never waits longer than `drainTimeoutMs`.
   */
  override end(): Promise<void>;
  override end(callback: () => void): void;
  override end(callback?: () => void): Promise<void> | void {
    const ending = this.ending || this.deps.consumerEnd === 'shutdown' ? this.shutdown() : this.ignoreEnd();
    if (!callback) return ending;
    ending.then(callback, callback);
  }

  /** Times a consumer's `end()` was ignored. */
  get ignoredEnds(): number {
    return this.consumerEnds;
  }

  private ignoreEnd(): Promise<void> {
    this.consumerEnds += 1;
    if (this.consumerEnds === 1) {
      this.deps.logger.warn(
        'pool.end() was called while the app runs (an ORM closing does this) and was ignored: EntraPgModule owns this ' +
          "pool and closes it at application shutdown. Set consumerEnd: 'shutdown' to let end() close it.",
      );
    }
    return Promise.resolve();
  }

  /**
   * Closes the pool: new and queued callers get an EntraPgShutdownError at once, checked-out
   * clients have `drainTimeoutMs` (default: the module's drainTimeoutMs) to be released before
   * their connections are closed anyway; logins under way are closed. Resolves when every socket
   * has closed. A second call returns the first call's promise.
   */
  shutdown(drainTimeoutMs = this.deps.drainTimeoutMs): Promise<void> {
    return this.closer.shutdown(drainTimeoutMs);
  }

  /** Moves new connections to a fresh pg.Pool with a newly fetched secret; the old one drains. */
  async rotate(): Promise<void> {
    if (this.ending) throw shutdownError(this.deps.connectionName);
    const before = this.generations.active;
    const secret = await this.deps.refresher.refreshNow();
    if (this.ending) throw shutdownError(this.deps.connectionName);
    // A new user has already started a generation in adopt(); otherwise start one here.
    if (this.generations.active === before) this.generations.start(secret.user, 'rotate() was called');
  }

  private run(text: string | pg.QueryConfig, values: unknown[] | undefined, callback: QueryCallback): void {
    this.checkouts.acquire((acquireError, client) => {
      if (!client) {
        callback(acquireError);
        return;
      }
      let released = false;
      const release = (error: Error | undefined) => {
        if (released) return false;
        released = true;
        client.removeListener('error', onError);
        client.release(error);
        return true;
      };
      // A connection that dies mid-query emits 'error'; without this listener the process would crash.
      const onError = (error: Error) => {
        if (release(error)) callback(error);
      };
      client.once('error', onError);
      try {
        // pg takes a config object and undefined values here too (a config keeps its own values);
        // @types/pg types only the text-and-array form of this overload.
        client.query(text as string, values as unknown[], (error: Error | null, result: pg.QueryResult) => {
          // A server-side SQL error leaves the connection usable; keep it warm, unless the server
          // ended the session (FATAL/PANIC). pg-pool itself drops connections no longer queryable.
          const broken = error && (!(error instanceof pg.DatabaseError) || isConnectionGone(error));
          if (!release(broken ? error : undefined)) return;
          if (error) callback(error);
          else callback(undefined, result);
        });
      } catch (error) {
        // pg throws synchronously for a null query and other malformed input.
        if (release(error as Error)) callback(error as Error);
      }
    });
  }

  /**
   * Runs a Submittable (pg-query-stream, pg-cursor) on a client of its own, released when it ends,
   * fails or closes. It is returned at once; a failure to get a client reaches it as an error.
   */
  private submit<T extends pg.Submittable>(submittable: T): T {
    const events = submittable as unknown as NodeJS.EventEmitter & { destroyed?: boolean };
    if (typeof events.once !== 'function' || typeof events.removeListener !== 'function') {
      // Without end/error events nothing tells when to give the client back.
      throw new TypeError(
        'pool.query takes Submittables that emit end and error (pg-query-stream, pg-cursor, pg.Query); for others, ' +
          'check out a client with pool.connect() and release it yourself',
      );
    }
    // A stream may be destroyed while it waits for a client (a request aborted): then the client,
    // when it comes, goes straight back and nothing is submitted.
    let closedEarly = events.destroyed === true;
    const onCloseWhileWaiting = () => (closedEarly = true);
    events.once('close', onCloseWhileWaiting);
    this.checkouts.acquire((error, client) => {
      events.removeListener('close', onCloseWhileWaiting);
      if (!client) {
        if (!closedEarly) failSubmittable(submittable, error ?? new Error('pg-pool returned no client'));
        return;
      }
      if (closedEarly || events.destroyed === true) {
        client.release();
        return;
      }
      let released = false;
      const release = (releaseError?: Error) => {
        if (released) return;
        released = true;
        client.removeListener('error', onClientError);
        events.removeListener('end', onEnd);
        events.removeListener('error', onSubmittableError);
        events.removeListener('close', onClose);
        client.release(releaseError);
      };
      const onEnd = () => release();
      const onSubmittableError = (submittableError: Error) => release(submittableError);
      // Closed before its end (a stream destroyed early): the cursor may still be open, so the
      // connection is not reused.
      const onClose = () => release(new Error('closed before it ended'));
      const onClientError = (clientError: Error) => {
        release(clientError);
        failSubmittable(submittable, clientError);
      };
      client.once('error', onClientError);
      events.once('end', onEnd);
      events.once('error', onSubmittableError);
      events.once('close', onClose);
      try {
        client.query(submittable);
      } catch (queryError) {
        release(queryError as Error);
        failSubmittable(submittable, queryError as Error);
      }
    });
    return submittable;
  }
}

/** Hands an error to a Submittable the way pg would, so its reader sees it instead of waiting forever. */
function failSubmittable(submittable: pg.Submittable, error: Error): void {
  const target = submittable as unknown as { handleError?: (error: Error) => void; destroy?: (error: Error) => void };
  if (typeof target.destroy === 'function') target.destroy(error);
  else if (typeof target.handleError === 'function') target.handleError(error);
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
