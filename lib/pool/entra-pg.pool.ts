import pg from 'pg';
import { printAs } from '../common/print-as.js';
import { type EntraPgPoolDependencies, type EntraPgPoolProbe, PoolChanges, shutdownError } from './pool-types.js';
import { PoolCheckout, WaiterList } from './pool-checkout.js';
import { PoolGenerations, toPgPoolConfig } from './pool-generations.js';
import { type QueryCallback, runQuery, submitQuery, withCallerStack } from './pool-query.js';
import { PoolShutdown } from './pool-shutdown.js';
import { assertPgInternals } from './pg-internals.js';

export type { EntraPgPoolDependencies } from './pool-types.js';

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
  /** `end()` was called once with consumerEnd 'shutdown' (a second call fails, as in pg-pool). */
  private endCalled = false;
  private readonly deps: EntraPgPoolDependencies;
  /** Set by lib/metrics when a MeterProvider is registered; see EntraPgPoolProbe. */
  probe: EntraPgPoolProbe | undefined;

  constructor(deps: EntraPgPoolDependencies) {
    assertPgInternals();
    // The base pool only carries `options` for code that reads them; it never opens a connection.
    super({ ...toPgPoolConfig(deps.config, deps.config.user, () => ''), password: undefined });
    this.deps = deps;
    const changes = new PoolChanges();
    const waiters = new WaiterList();
    this.generations = new PoolGenerations(this, deps, changes, (pool) => this.checkouts.requeue(pool));
    this.checkouts = new PoolCheckout(this, deps, this.generations, waiters);
    this.closer = new PoolShutdown(this, deps, this.generations, waiters, changes);
    deps.refresher.onSecret((secret) => this.generations.adopt(secret));
    // A refresher shared with another connection (secretFrom) may hold its secret already.
    const current = deps.refresher.peek();
    if (current) this.generations.adopt(current);
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
    return withCallerStack(new Promise((resolve, reject) => this.checkouts.acquire((error, client) => (client ? resolve(client) : reject(error)))));
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
    // Plain SQL text is nearly every call: it skips these probes (a property lookup on a string).
    if (typeof text !== 'string') {
      if (typeof text === 'function') {
        // As pg-pool: the function is taken for the callback and told, on a later turn.
        const error = new Error('Passing a function as the first parameter to pool.query is not supported');
        setImmediate(text as (error: Error) => void, error);
        return undefined;
      }
      if (typeof (text as { submit?: unknown } | null)?.submit === 'function') return submitQuery(this.checkouts, text as pg.Submittable);
    }
    if (typeof values === 'function') {
      callback = values;
      values = undefined;
    }
    const sql = text as string | pg.QueryConfig;
    const params = values as unknown[] | undefined;
    if (typeof callback === 'function') {
      runQuery(this.checkouts, sql, params, callback as QueryCallback);
      return undefined;
    }
    return withCallerStack(
      new Promise((resolve, reject) => runQuery(this.checkouts, sql, params, (error, result) => (error ? reject(error) : resolve(result)))),
    );
  }

  /**
   * The pool belongs to the module: while the app runs, a consumer's `end()` (an ORM closing) is
   * ignored with a one-time warning, and once shutdown has begun it resolves with it; it never
   * rejects, since an ORM closing after the module would fail the app's shutdown. With
   * `consumerEnd: 'shutdown'` it is pg-pool's end(): the first call closes the pool (logins under
   * way finish, checked-out clients have `drainTimeoutMs`), a second one fails with pg-pool's error.
   */
  override end(): Promise<void>;
  override end(callback: (error?: Error) => void): void;
  override end(callback?: (error?: Error) => void): Promise<void> | void {
    let ending: Promise<void>;
    if (this.deps.consumerEnd !== 'shutdown') {
      ending = this.ending ? this.shutdown() : this.ignoreEnd();
    } else if (this.endCalled) {
      const error = new Error('Called end on pool more than once');
      if (callback) return callback(error);
      return Promise.reject(error);
    } else {
      this.endCalled = true;
      ending = this.closer.shutdown(this.deps.drainTimeoutMs, true);
    }
    if (!callback) return ending;
    ending.then(() => callback(), callback);
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
