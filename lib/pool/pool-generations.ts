import { lookup as dnsLookup } from 'node:dns';
import pg from 'pg';
import { describeCause } from '../entra-pg.errors.js';
import { READ_ONLY_SQL_TRANSACTION } from './login-errors.js';
import { ENTRA_PG_DEFAULTS } from '../options/entra-pg.defaults.js';
import type { FetchedSecret } from '../refresh/fetched-secret.js';
import { loginGateOf } from './connect-retry.js';
import { DnsWatch, socketFactory } from './dns-watch.js';
import { destroySocket, doNotReuse, isClosing, pulseQueue, remoteAddressOf, settledTransactionStatus } from './pg-internals.js';
import { type EntraPgPoolDependencies, type EntraPgPoolHost, type Generation, type PoolChanges, type ResolvedPoolConfig, RetiredGenerationError } from './pool-types.js';
import { HostSelector } from './server-selection.js';
import { serverTurnedReadOnly, withTrackedClients } from './tracked-client.js';

// One pg.Pool per identity (a generation), its config and computed limits, its events, its
// retirement on a rotation, a server change or a DNS move, and the idle-set rule (keepOnlyIfIdle).

/** How long a connection closed by a retiring generation may take to say goodbye before it is cut. */
const GOODBYE_GRACE_MS = 2_000;

/**
 * Least time between two generations retired because the server changed role. A session can make
 * itself read-only (`SET default_transaction_read_only = on`) and then write; an app that does so
 * on every request must not rebuild the pool on every request.
 */
const SERVER_CHANGE_MIN_INTERVAL_MS = 10_000;

/** Share of a connection's lifetime taken off at random, so connections do not all recycle together. */
const LIFETIME_JITTER = 0.2;

type PoolCounter = 'totalCount' | 'idleCount' | 'expiredCount';

/**
 * The pg.Pools behind EntraPgPool, one per identity ("generation"): the active one takes new
 * work, retired ones drain. A token refresh keeps the generation (PostgreSQL checks a token only
 * at login, so open connections stay), a change of user or `rotate()` starts a new one.
 * Connections across generations never exceed `pool.max`.
 */
export class PoolGenerations {
  active: Generation | undefined;
  readonly draining = new Set<Generation>();
  /** Clients handed out and not yet released, counted from pg-pool's own acquire/release events. */
  checkedOut = 0;
  /** Times the pool moved to a new generation (identity change, `rotate()`, the server changing role). */
  rotations = 0;
  /** A client released inside a transaction is the caller's bug: said once per pool, never with its SQL. */
  private openTransactionLogged = false;
  private lastServerChange = -Infinity;
  /** Follows the host name to where it points now (dns-watch.ts). */
  readonly dns: DnsWatch;
  /** Chooses each login's host from the host list (server-selection.ts). */
  readonly hosts: HostSelector;

  constructor(
    private readonly host: EntraPgPoolHost,
    private readonly deps: EntraPgPoolDependencies,
    private readonly changes: PoolChanges,
    /** Sends the callers queued on a retired generation's pg.Pool to the active generation. */
    private readonly requeue: (pool: pg.Pool) => void,
  ) {
    this.hosts = new HostSelector(deps.config.hosts, deps.config.targetSessionAttrs, deps.config.loadBalanceHosts);
    this.dns = new DnsWatch({
      host: deps.config.host,
      enabled: deps.config.hosts.length === 1,
      lookup: deps.config.lookup ?? dnsLookup,
      intervalMs: deps.config.dnsRecheckMs,
      logger: deps.logger,
      connectedAddresses: () => this.activeAddresses(),
      moved: (reason) => {
        if (!host.ending && this.active) this.start(this.active.user, reason);
      },
    });
  }

  /** The server addresses the active generation's connections are on. */
  private activeAddresses(): string[] {
    const addresses: string[] = [];
    if (this.active) {
      for (const client of this.active.sockets) {
        const address = remoteAddressOf(client);
        if (address !== undefined) addresses.push(address);
      }
    }
    return addresses;
  }

  /** A counter summed over all generations. */
  sum(counter: PoolCounter): number {
    let total = this.active ? this.active.pool[counter] : 0;
    for (const generation of this.draining) total += generation.pool[counter];
    return total;
  }

  /** Whether pg-pool would answer a connect() now by opening a new connection (and so log in). */
  wouldOpenConnection(): boolean {
    const pool = this.active?.pool;
    if (!pool) return true;
    // The limit is never above config.max: a full pool (the busy steady state) skips its getter.
    const total = pool.totalCount;
    return pool.idleCount === 0 && total < this.deps.config.max && total < pool.options.max;
  }

  /** A new secret arrived: a new identity gets a new generation, the same identity keeps its connections. */
  adopt(secret: FetchedSecret): void {
    if (this.host.ending) return;
    if (!this.active) {
      this.start(secret.user, undefined);
    } else if (secret.user !== this.active.user) {
      this.start(secret.user, `the user changed from "${this.active.user}" to "${secret.user}"`);
    }
  }

  start(user: string | undefined, reason: string | undefined): void {
    const previous = this.active;
    const sockets = new Set<pg.Client>();
    const generation: Generation = { pool: undefined as unknown as pg.Pool, user, retired: false, sockets, ended: false, readOnlyHeard: false };
    const config = withTrackedClients(toPgPoolConfig(this.deps.config, user, () => this.password(generation)), {
      generation,
      refresher: this.deps.refresher,
      host: this.host,
      onClosed: () => this.socketClosed(generation),
      onServerReadOnly: (from, why) => this.serverTurnedReadOnly(from, why),
      gate: loginGateOf(this.host),
      hosts: this.hosts,
    });
    generation.pool = new pg.Pool(config);
    computePoolLimits(generation.pool, { max: () => this.sizeLimit(generation), maxLifetimeSeconds: () => this.lifetime() });
    this.forwardEvents(generation);
    this.active = generation;
    if (!previous) this.dns.start();
    if (previous) {
      this.rotations += 1;
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
  private sizeLimit(generation: Generation): number {
    if (generation.retired) return 0;
    let limit = this.deps.config.max;
    if (this.draining.size > 0) for (const old of this.draining) limit -= old.sockets.size;
    // With no usable secret, a new login cannot succeed: while warm connections remain, callers
    // queue for them instead of each failing on a login that cannot be made.
    const live = generation.pool.totalCount;
    if (live > 0 && live < limit && !this.deps.refresher.peek()) limit = live;
    return Math.max(0, limit);
  }

  /**
   * pg-pool gives every connection the same fixed lifetime; reading it through a getter gives each
   * new connection its own, so a pool opened in one burst does not reconnect in one burst.
   */
  private lifetime(): number {
    const seconds = this.deps.config.maxLifetimeSeconds;
    return seconds > 0 ? seconds * (1 - Math.random() * LIFETIME_JITTER) : 0;
  }

  private forwardEvents(generation: Generation): void {
    const { host, deps } = this;
    const pool = generation.pool;
    pool.on('connect', (client: pg.PoolClient) => {
      this.deps.refresher.loginSucceeded();
      host.emit('connect', client);
    });
    pool.on('acquire', (client: pg.PoolClient) => {
      this.checkedOut += 1;
      host.emit('acquire', client);
    });
    pool.on('release', (error: Error | boolean | undefined, client: pg.PoolClient) => {
      this.checkedOut -= 1;
      // pg-pool decides right after this event whether the client goes back to the idle set.
      if (!error) this.keepOnlyIfIdle(client);
      else if ((error as { code?: unknown }).code === READ_ONLY_SQL_TRANSACTION && serverTurnedReadOnly(client)) {
        this.serverChanged(generation, 'a write failed with 25006 (read-only transaction) on a server that took writes at login and now reports itself read-only');
      }
      host.emit('release', error, client);
      this.changes.changed();
    });
    pool.on('remove', (client: pg.PoolClient) => host.emit('remove', client));
    pool.on('error', (error: Error, client: pg.PoolClient) => {
      // pg-pool has already removed the broken client; a later connect opens a new one.
      deps.logger.warn(`An idle connection failed and was removed: ${describeCause(error)}`);
      // A failover closes connections first: see whether the name points elsewhere now.
      this.dns.recheckNow();
      // Re-emitting without a listener would crash the process, which is what this pool exists to avoid.
      if (host.listenerCount('error') > 0) host.emit('error', error, client);
    });
  }

  /**
   * A connection goes back to the idle set only when the server's last word was "idle, outside a
   * transaction". A client released inside a transaction (or a failed one), or with a query still
   * outstanding, would hand the next caller an open or aborted transaction (25P02 on every query
   * until it idles out); it is closed instead. Closing costs one login; a ROLLBACK first would cost
   * a round trip on the release path and still leave a session whose state the caller changed.
   */
  private keepOnlyIfIdle(client: pg.PoolClient): void {
    const status = settledTransactionStatus(client);
    if (status === 'I' && !serverTurnedReadOnly(client)) return;
    doNotReuse(client);
    if (status !== undefined && status !== 'I' && !this.openTransactionLogged) {
      this.openTransactionLogged = true;
      this.deps.logger.warn(
        `A client was released inside ${status === 'E' ? 'a failed' : 'an open'} transaction; its connection was closed ` +
          'instead of being handed to the next caller. COMMIT or ROLLBACK before release(), or call release(err) to discard ' +
          'a client on purpose. (Said once per pool.)',
      );
    }
  }

  /**
   * The server of this generation stopped taking writes although it took them at login: after a
   * switchover or a replica promotion the host name points elsewhere now. New logins (which resolve
   * the name again) go to a new generation, as after a rotation; no query already sent is retried.
   */
  private serverChanged(generation: Generation, reason: string): void {
    if (this.host.ending || generation !== this.active || generation.retired) return;
    const now = Date.now();
    if (now - this.lastServerChange < SERVER_CHANGE_MIN_INTERVAL_MS) return;
    this.lastServerChange = now;
    this.start(generation.user, `${reason}; the host name may point to another server now`);
  }

  /** Heard on one connection: it closes on release (pg-internals), and the generation is told once. */
  private serverTurnedReadOnly(generation: Generation, reason: string): void {
    if (generation.readOnlyHeard || generation.retired) return;
    generation.readOnlyHeard = true;
    this.deps.logger.warn(`A connection heard that ${reason}; such connections close when released, and new logins resolve the host again`);
  }

  /**
   * Lets an old generation finish: it ends at once (idle connections close, checked-out ones close
   * on release), and the callers queued on it move to the active generation, since it will never
   * open another connection to serve them.
   */
  private retire(generation: Generation): void {
    generation.retired = true;
    this.draining.add(generation);
    this.requeue(generation.pool);
    const ended = () => {
      generation.ended = true;
      this.forgetIfDrained(generation);
    };
    generation.pool.end().then(ended, ended);
    // pg-pool's end() says goodbye to the idle connections; a server that is frozen or gone never
    // answers, and those sockets would hold the active generation's share of pool.max until TCP
    // gives up (minutes). After a grace period they are cut; checked-out clients are not touched.
    const cut = setTimeout(() => {
      for (const client of generation.sockets) if (isClosing(client)) destroySocket(client);
    }, GOODBYE_GRACE_MS);
    cut.unref();
  }

  private socketClosed(generation: Generation): void {
    if (generation.retired) this.forgetIfDrained(generation);
    this.changes.changed();
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
   * one of them.
   */
  private pulseActive(): void {
    if (!this.host.ending && this.active) pulseQueue(this.active.pool);
  }

  /** Every generation, draining ones first. */
  all(): Generation[] {
    return [...this.draining, ...(this.active ? [this.active] : [])];
  }

  openSockets(): pg.Client[] {
    const all = this.active ? [...this.active.sockets] : [];
    for (const generation of this.draining) all.push(...generation.sockets);
    return all;
  }
}

/** The pg.Pool config of one generation of the pool (one user); the password comes from `password`. */
export function toPgPoolConfig(
  config: ResolvedPoolConfig,
  user: string | undefined,
  password: () => string | Promise<string>,
): pg.PoolConfig {
  return {
    ...config.pg,
    host: config.host,
    port: config.port,
    database: config.database,
    user,
    // pg >= 8.19 calls this with the connection parameters; it must ignore them.
    password: () => password(),
    ssl: config.ssl,
    max: config.max,
    min: config.min,
    idleTimeoutMillis: config.idleTimeoutMillis,
    connectionTimeoutMillis: config.connectionTimeoutMillis,
    // Shown in pool.options as given; each generation computes its own per connection (jittered).
    maxLifetimeSeconds: config.maxLifetimeSeconds,
    application_name: config.applicationName,
    keepAlive: config.pg.keepAlive ?? ENTRA_PG_DEFAULTS.keepAlive,
    keepAliveInitialDelayMillis: config.pg.keepAliveInitialDelayMillis ?? ENTRA_PG_DEFAULTS.keepAliveInitialDelayMillis,
    // Only with a `lookup` of the app's own: pg's default socket already resolves with dns.lookup.
    stream: config.lookup ? socketFactory(config.lookup) : undefined,
  };
}

/** The two pg-pool options this library computes each time pg-pool reads them. */
export interface ComputedLimits {
  /** How many connections the generation may have now. */
  max(): number;
  /** The lifetime of a connection being opened now. */
  maxLifetimeSeconds(): number;
}

const LIMITS = Symbol('nestjs-entra-pg computed limits');

/**
 * pg-pool's options with `max` and `maxLifetimeSeconds` as getters on a prototype. pg-pool reads
 * its options on every checkout and release: redefining a property of its own options object as
 * an accessor (Object.defineProperty) turned that object into a dictionary, so every one of those
 * reads became a hash lookup, several per query.
 */
class ComputedPoolOptions {
  declare [LIMITS]: ComputedLimits;

  constructor(options: pg.PoolOptions, limits: ComputedLimits) {
    const source = options as unknown as Record<PropertyKey, unknown>;
    const target = this as unknown as Record<PropertyKey, unknown>;
    // Symbol keys too: the generation's client tracking travels in them (tracked-client.ts).
    for (const key of Reflect.ownKeys(source)) if (key !== 'max' && key !== 'maxLifetimeSeconds') target[key] = source[key];
    this[LIMITS] = limits;
  }

  get max(): number {
    return this[LIMITS].max();
  }

  get maxLifetimeSeconds(): number {
    return this[LIMITS].maxLifetimeSeconds();
  }
}

/** Replaces `pool.options` (after pg-pool has filled in its defaults) with one whose limits are computed. */
export function computePoolLimits(pool: pg.Pool, limits: ComputedLimits): void {
  pool.options = new ComputedPoolOptions(pool.options, limits) as unknown as pg.PoolOptions;
}
