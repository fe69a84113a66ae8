import type { Logger } from '@nestjs/common';
import pg from 'pg';
import { printAs } from '../common/print-as.js';
import type { FetchedSecret } from '../credentials/secret-source.interface.js';
import { EntraPgCredentialError, EntraPgLoginRefusedError, EntraPgShutdownError, describeCause } from '../entra-pg.errors.js';
import type { EntraPgConsumerEnd } from '../interfaces/entra-pg-options.interface.js';
import type { CredentialRefresher } from '../refresh/credential-refresher.js';
import { isConnectionGone, isLoginRejected } from './login-errors.js';
import { type ResolvedPoolConfig, toPgPoolConfig } from './pool-config.js';
import type { EntraPgPoolProbe } from './pool-probe.interface.js';
import { type AcquireCallback, WaiterList } from './waiter-list.js';

/** Share of a connection's lifetime taken off at random, so connections do not all recycle together. */
const LIFETIME_JITTER = 0.2;
/** After the drain timeout, how long closed sockets get to report closing before we stop waiting. */
const SOCKET_CLOSE_GRACE_MS = 5_000;

type QueryCallback = (err: Error | undefined, result?: pg.QueryResult) => void;
type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

/** One pg.Pool and the identity it logs in as; retired generations drain and never log in again. */
interface Generation {
  pool: pg.Pool;
  user: string | undefined;
  retired: boolean;
  /** Its connections from the moment their socket opens (logging in included) until it closes. */
  sockets: Set<pg.Client>;
  /** Retired and its pg.Pool has ended; it is forgotten once its last socket has closed too. */
  ended: boolean;
}

/** Raised inside a retired generation's login, so the caller is sent to the active generation instead. */
class RetiredGenerationError extends Error {
  constructor() {
    super('this pool generation has retired');
  }
}

export interface EntraPgPoolDependencies {
  config: ResolvedPoolConfig;
  refresher: CredentialRefresher;
  connectionName: string;
  logger: Logger;
  /** How long shutdown waits for checked-out clients. */
  drainTimeoutMs: number;
  /** What a consumer's `end()` does while the app runs. */
  consumerEnd: EntraPgConsumerEnd;
}

/**
 * The object injected as PG_POOL: one pg.Pool for the app's whole life. Behind it, one pg.Pool
 * per identity ("generation"); a token refresh keeps the generation (PostgreSQL checks a token
 * only at login, so open connections stay), a change of user or `rotate()` starts a new one and
 * lets the old one drain. Connections across generations never exceed `pool.max`.
 */
export class EntraPgPool extends pg.Pool {
  private active: Generation | undefined;
  private readonly draining = new Set<Generation>();
  /** Clients handed out and not yet released, counted from pg-pool's own acquire/release events. */
  private checkedOut = 0;
  private readonly waiters = new WaiterList();
  private readonly changeListeners = new Set<() => void>();
  private shutdownPromise: Promise<void> | undefined;
  private rotationCount = 0;
  private consumerEnds = 0;
  private readonly deps: EntraPgPoolDependencies;
  /** Set by lib/metrics when a MeterProvider is registered; see EntraPgPoolProbe. */
  probe: EntraPgPoolProbe | undefined;

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
    for (const counter of ['totalCount', 'idleCount', 'expiredCount'] as const) {
      Object.defineProperty(EntraPgPool.prototype, counter, {
        configurable: true,
        get(this: EntraPgPool): number {
          let total = this.active ? this.active.pool[counter] : 0;
          for (const generation of this.draining) total += generation.pool[counter];
          return total;
        },
      });
    }
    // A retired generation's queue holds only callers already moved to the active one.
    Object.defineProperty(EntraPgPool.prototype, 'waitingCount', {
      configurable: true,
      get(this: EntraPgPool): number {
        return this.active ? this.active.pool.waitingCount : 0;
      },
    });
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
    // Plain SQL text is nearly every call: it skips these probes (a property lookup on a string).
    if (typeof text !== 'string') {
      if (typeof text === 'function') {
        return Promise.reject(new TypeError('Passing a function as the first parameter to pool.query is not supported'));
      }
      if (typeof (text as { submit?: unknown } | null)?.submit === 'function') return this.submit(text as pg.Submittable);
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
    this.shutdownPromise ??= this.closeEverything(drainTimeoutMs);
    return this.shutdownPromise;
  }

  /** Moves new connections to a fresh pg.Pool with a newly fetched secret; the old one drains. */
  async rotate(): Promise<void> {
    if (this.ending) throw this.shutdownError();
    const before = this.active;
    const secret = await this.deps.refresher.refreshNow();
    if (this.ending) throw this.shutdownError();
    // A new user has already started a generation in adopt(); otherwise start one here.
    if (this.active === before) this.startGeneration(secret.user, 'rotate() was called');
  }

  /**
   * Gets a client, in callbacks rather than promises: this is the path of every query, and pg-pool
   * itself is callback-based underneath.
   */
  private acquire(callback: AcquireCallback): void {
    if (this.probe !== undefined) callback = this.probe.acquiring(callback);
    if (this.ending) {
      process.nextTick(callback, this.shutdownError());
      return;
    }
    // A login must read a password that is already cached: the one fetch happens before any socket
    // opens. A checkout that pg-pool serves from an open connection needs no secret at all, so an
    // expired token with a failing identity service does not stop warm connections from serving.
    if (this.wouldOpenConnection() && !this.deps.refresher.peek()) {
      this.awaitSecret(callback);
      return;
    }
    this.checkout(false, callback);
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

  /** Whether pg-pool would answer a connect() now by opening a new connection (and so log in). */
  private wouldOpenConnection(): boolean {
    const pool = this.active?.pool;
    if (!pool) return true;
    // The limit is never above config.max: a full pool (the busy steady state) skips its getter.
    const total = pool.totalCount;
    return pool.idleCount === 0 && total < this.deps.config.max && total < pool.options.max;
  }

  private checkout(retried: boolean, callback: AcquireCallback): void {
    if (this.ending) {
      callback(this.shutdownError());
      return;
    }
    const generation = this.active;
    if (!generation) {
      callback(new EntraPgCredentialError('No credential has been fetched yet', this.deps.connectionName));
      return;
    }
    const pool = generation.pool;
    const startedAt = Date.now();
    // Every caller is tracked, even one an idle connection will serve: several callers in the same
    // tick all see that one idle connection, and pg-pool hands it out only on the next tick.
    const waiter = this.waiters.add(callback, pool, retried);
    pool.connect((error, client, done) => {
      this.waiters.remove(waiter);
      if (waiter.settled) {
        // Shutdown or a rotation already answered this caller; the late client closes.
        if (client) done(true);
        return;
      }
      waiter.settled = true;
      if (client) {
        if (this.ending) {
          done(true);
          callback(this.shutdownError());
          return;
        }
        callback(undefined, client);
        return;
      }
      if (this.ending) {
        callback(this.shutdownError());
      } else if (error instanceof RetiredGenerationError) {
        // Its generation retired while it logged in: the active generation serves it instead.
        this.checkout(retried, callback);
      } else if (!isLoginRejected(error)) {
        callback(error ?? new Error('pg-pool returned no client'));
      } else if (retried) {
        callback(this.loginRefusedError(error));
      } else {
        this.retryWithNewSecret(startedAt, error, callback);
      }
    });
  }

  /** The secret was revoked or rotated behind our back: one shared refresh, then one more try. */
  private retryWithNewSecret(loginStartedAt: number, loginError: Error | undefined, callback: AcquireCallback): void {
    this.probe?.loginRetried();
    const remainingMs = loginStartedAt + this.deps.config.connectionTimeoutMillis - Date.now();
    this.waitForSecret(this.deps.refresher.forceRefresh(loginStartedAt), remainingMs, callback, (secret) =>
      secret ? this.checkout(true, callback) : callback(this.loginRefusedError(loginError)),
    );
  }

  private loginRefusedError(loginError: Error | undefined): EntraPgLoginRefusedError {
    const code = (loginError as { code?: string } | undefined)?.code;
    const user = this.active?.user ?? this.deps.config.user;
    return new EntraPgLoginRefusedError(
      `PostgreSQL refused the login of "${this.deps.connectionName}" as "${user}" even with a freshly fetched ` +
        `${this.deps.refresher.label}: ${describeCause(loginError)}. Check that the role exists, that it is mapped to ` +
        'this identity, and that pg_hba allows it.',
      this.deps.connectionName,
      code,
      { cause: loginError },
    );
  }

  private run(text: string | pg.QueryConfig, values: unknown[] | undefined, callback: QueryCallback): void {
    this.acquire((acquireError, client) => {
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
      // `on`, not `once`: release() removes it either way, and once() costs a wrapper per query.
      client.on('error', onError);
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
    this.acquire((error, client) => {
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

  /** A new secret arrived: a new identity gets a new generation, the same identity keeps its connections. */
  private adopt(secret: FetchedSecret): void {
    if (this.ending) return;
    if (!this.active) {
      this.startGeneration(secret.user, undefined);
    } else if (secret.user !== this.active.user) {
      this.startGeneration(secret.user, `the user changed from "${this.active.user}" to "${secret.user}"`);
    }
  }

  private startGeneration(user: string | undefined, reason: string | undefined): void {
    const previous = this.active;
    const sockets = new Set<pg.Client>();
    const generation: Generation = { pool: undefined as unknown as pg.Pool, user, retired: false, sockets, ended: false };
    const onClosed = () => this.socketClosed(generation);
    const refresher = this.deps.refresher;
    const probe = () => this.probe;
    const config: pg.PoolConfig = {
      ...toPgPoolConfig(this.deps.config, user, () => this.password(generation)),
      Client: class TrackedClient extends pg.Client {
        constructor(clientConfig?: string | pg.ClientConfig) {
          super(clientConfig);
          const self = this as unknown as { password?: unknown };
          const password = self.password;
          if (typeof password === 'function') {
            // pg leaves the socket half-open when the password function fails, and the server
            // keeps the backend in authentication for a minute; close it instead.
            self.password = (...args: unknown[]) =>
              Promise.resolve()
                .then(() => password(...args))
                .catch((error: unknown) => {
                  destroySocket(this as pg.Client);
                  throw error;
                });
          }
        }

        override connect(): Promise<pg.Client>;
        override connect(callback: (err: Error) => void): void;
        override connect(callback?: (err: Error) => void): Promise<pg.Client> | void {
          if (!callback) return new Promise((resolve, reject) => this.connect((error) => (error ? reject(error) : resolve(this))));
          const creating = probe();
          if (creating !== undefined) callback = creating.creating(callback);
          const open = () => {
            if (generation.retired) return callback(new RetiredGenerationError());
            // pg-pool's connection timeout destroyed the socket while the secret was awaited.
            if ((this as unknown as { connection: { stream: { destroyed?: boolean } } }).connection.stream.destroyed) {
              return callback(new Error('timeout exceeded when trying to connect'));
            }
            // Tracked from the moment a socket opens, so shutdown also waits for logins under way.
            sockets.add(this);
            this.once('end', () => {
              sockets.delete(this);
              onClosed();
            });
            try {
              super.connect(callback);
            } catch (error) {
              callback(error as Error);
            }
          };
          // No socket opens without a usable secret: however pg-pool came to open this connection
          // (a queued caller served after a removal, several callers in one tick), it waits for
          // the one shared fetch, or fails at once while the source is failing.
          if (refresher.peek()) open();
          else refresher.get().then(open, (error: Error) => callback(error));
        }
      },
    };
    generation.pool = new pg.Pool(config);
    this.limitSize(generation);
    this.jitterLifetime(generation.pool);
    this.forwardEvents(generation.pool);
    this.active = generation;
    if (previous) {
      this.rotationCount += 1;
      this.deps.logger.log(`Rotating to a new pool: ${reason}; the previous pool drains`);
      this.retire(previous);
    }
  }

  /** Password for a login of `generation`; the cache is filled before its socket opens, so this is synchronous. */
  private password(generation: Generation): string | Promise<string> {
    // A draining generation never logs in again, least of all with the next identity's secret.
    if (generation.retired) return Promise.reject(new RetiredGenerationError());
    const usable = (secret: FetchedSecret) => !generation.retired && secret.user === generation.user;
    const secret = this.deps.refresher.peek();
    if (secret) return usable(secret) ? secret.password : Promise.reject(new RetiredGenerationError());
    return this.deps.refresher.get().then((fresh) => {
      if (!usable(fresh)) throw new RetiredGenerationError();
      return fresh.password;
    });
  }


  /**
   * pg-pool reads `options.max` whenever it decides to open a connection: a retired generation
   * opens none, and the active one only what the draining ones leave of `pool.max`.
   */
  private limitSize(generation: Generation): void {
    const max = this.deps.config.max;
    Object.defineProperty(generation.pool.options, 'max', {
      configurable: true,
      get: () => {
        if (generation.retired) return 0;
        let limit = max;
        if (this.draining.size > 0) for (const old of this.draining) limit -= old.sockets.size;
        // With no usable secret, a new login cannot succeed: while warm connections remain, callers
        // queue for them instead of each failing on a login that cannot be made.
        const live = generation.pool.totalCount;
        if (live > 0 && live < limit && !this.deps.refresher.peek()) limit = live;
        return Math.max(0, limit);
      },
    });
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
      this.deps.refresher.loginSucceeded();
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

  /**
   * Lets an old generation finish: it ends at once (idle connections close, checked-out ones close
   * on release), and the callers queued on it move to the active generation, since it will never
   * open another connection to serve them.
   */
  private retire(generation: Generation): void {
    generation.retired = true;
    this.draining.add(generation);
    for (const waiter of this.waiters.takeQueuedOn(generation.pool)) this.checkout(waiter.retried, waiter.callback);
    const ended = () => {
      generation.ended = true;
      this.forgetIfDrained(generation);
    };
    generation.pool.end().then(ended, ended);
  }

  private socketClosed(generation: Generation): void {
    if (generation.retired) this.forgetIfDrained(generation);
    this.changed();
  }

  /**
   * pg-pool's end() resolves as soon as it has let go of its clients, while their sockets may still
   * be closing: a retired generation counts against `pool.max` and is waited for at shutdown until
   * its last socket has closed. Each of its sockets gone frees a slot for the active generation.
   */
  private forgetIfDrained(generation: Generation): void {
    if (generation.ended && generation.sockets.size === 0) this.draining.delete(generation);
    this.pulseActive();
  }

  /**
   * pg-pool looks at its queue only on its own events; a slot freed by another generation is not
   * one of them. `_pulseQueue` is pg-pool's own "serve the queue now", present throughout pg-pool 3.
   */
  private pulseActive(): void {
    const pool = this.active?.pool as { _pulseQueue?: () => void } | undefined;
    if (!this.ending && typeof pool?._pulseQueue === 'function') pool._pulseQueue();
  }

  private openSockets(): pg.Client[] {
    const all = this.active ? [...this.active.sockets] : [];
    for (const generation of this.draining) all.push(...generation.sockets);
    return all;
  }

  private async closeEverything(drainTimeoutMs: number): Promise<void> {
    (this as { ending: boolean }).ending = true;
    this.deps.refresher.stop();
    this.waiters.failAll(this.shutdownError());
    const generations = [...this.draining, ...(this.active ? [this.active] : [])];
    // Idle connections close now; checked-out ones close as they are released.
    for (const { pool } of generations) if (!pool.ending) pool.end().catch(() => undefined);
    const busy = this.checkedOut;
    if (busy > 0) {
      this.deps.logger.log(`Shutting down: waiting up to ${drainTimeoutMs} ms for ${busy} checked-out client(s)`);
    }
    const drained = await this.waitFor(() => this.checkedOut <= 0, drainTimeoutMs);
    if (!drained) {
      this.deps.logger.warn(
        `Shutting down: ${this.checkedOut} client(s) still checked out after ${drainTimeoutMs} ms; closing their connections`,
      );
    }
    // What is still open now is checked out past the deadline, or a login under way. A login is cut
    // off (pg's end() on a half-open handshake waits for the server); a session says goodbye.
    for (const client of this.openSockets()) {
      const state = client as unknown as { _connected?: boolean; _ending?: boolean };
      if (!state._connected) destroySocket(client);
      else if (!state._ending) void client.end().catch(() => undefined);
    }
    const closed = await this.waitFor(() => this.openSockets().length === 0, SOCKET_CLOSE_GRACE_MS);
    if (!closed) {
      for (const client of this.openSockets()) destroySocket(client);
      await this.waitFor(() => this.openSockets().length === 0, SOCKET_CLOSE_GRACE_MS);
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

function destroySocket(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
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
