import type { InjectionToken, ModuleMetadata, OptionalFactoryDependency, Type } from '@nestjs/common';
import type { LookupFunction } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type pg from 'pg';
import type { PgSecretSource } from '../sources/pg-secret-source.interface.js';
import type { EntraTokenCredential } from './token-credential.interface.js';

export interface EntraPgPoolOptions {
  /** Most connections open at once. Default 10. */
  max?: number;
  /** pg-pool's alias of `max`, honoured as there (`max` wins when both are set). */
  poolSize?: number;
  /** Connections kept open when idle (pg-pool does not pre-open them). Default 0. */
  min?: number;
  /** Close a connection idle this long. Default 10000. */
  idleTimeoutMillis?: number;
  /**
   * Give up on getting a connection after this long; a caller whose new connection waits for the
   * secret gives up after this long too. Default 0 (wait forever, as pg).
   */
  connectionTimeoutMillis?: number;
  /** Recycle each connection after about this long, jittered per connection (up to 20% earlier). Default 0 (off). */
  maxLifetimeSeconds?: number;
}

/** When and how the secret is fetched again (Npgsql-style: separate success and failure timing). */
export interface EntraPgRefreshOptions {
  /** Refresh this long before expiry, or at half the lifetime if that is sooner. Default 300000 (5 min). */
  marginMs?: number;
  /** First retry delay after a failed refresh; doubles on each failure. Default 1000. */
  retryBaseMs?: number;
  /** Longest retry delay after failed refreshes. Default 30000. */
  retryMaxMs?: number;
  /** Fraction of the refresh lead time spread at random across replicas. Default 0.1. */
  jitterRatio?: number;
  /** Least time between two refreshes forced by a rejected login. Default 1000. */
  forcedRefreshMinIntervalMs?: number;
  /**
   * How often a source whose secrets carry no `expiresAt` is read again, to notice rotation (spread by
   * `jitterRatio`, never later). Default 300000.
   */
  intervalMs?: number;
  /**
   * How long one fetch of the secret may take; then it is aborted (`abortSignal`) and counted as a
   * failed refresh. Default 30000.
   */
  timeoutMs?: number;
}

/** pg options this module sets itself; everything else in `pg.PoolConfig` passes through. */
export type EntraPgReservedPgOption =
  | 'host'
  | 'port'
  | 'database'
  | 'user'
  | 'password'
  | 'ssl'
  | 'connectionString'
  | 'max'
  | 'min'
  | 'idleTimeoutMillis'
  | 'connectionTimeoutMillis'
  | 'maxLifetimeSeconds'
  | 'application_name'
  | 'Client'
  | 'Promise'
  | 'stream';

/** Other node-postgres options (`types`, `statement_timeout`, `query_timeout`, `keepAlive`, `options`, `maxUses`, …). */
export type EntraPgPgOptions = Omit<pg.PoolConfig, EntraPgReservedPgOption>;

/**
 * What `end()` on the injected pool does while the app runs. ORMs end the pool they were given
 * when they close (TypeORM `destroy()`, Kysely `destroy()`, MikroORM `close()`), which would take
 * it away from every other user in the app.
 */
export type EntraPgConsumerEnd =
  /** Default: ignored with a one-time warning; the module closes the pool at application shutdown. */
  | 'ignore'
  /** `end()` shuts the pool down for everyone, as on a plain pg.Pool. */
  | 'shutdown';

export interface EntraPgModuleOptions {
  /**
   * A libpq URL without a password (`postgresql://user@host:5432/db?sslmode=verify-full&application_name=api`),
   * such as DATABASE_URL; the password comes from the secret source, so a URL that carries one is refused.
   * Explicit options win over it, and it wins over the PG* environment. Reads host, port, database,
   * user, sslmode, application_name, options and target_session_attrs; other parameters are ignored, as in pg.
   */
  connectionString?: string;
  /**
   * Server host. Falls back to connectionString, then PGHOST. Required. May be a comma-separated list, as in libpq
   * (`a,b`, each entry optionally `name:port`): hosts are tried in order (see `targetSessionAttrs`).
   */
  host?: string;
  /**
   * libpq's target_session_attrs: which server of the host list a connection may use: `any`,
   * `read-write`, `read-only`, `primary`, `standby`, `prefer-standby`. Falls back to
   * PGTARGETSESSIONATTRS. Default `any`.
   */
  targetSessionAttrs?: 'any' | 'read-write' | 'read-only' | 'primary' | 'standby' | 'prefer-standby';
  /** libpq 16's load_balance_hosts: `random` tries the hosts in a random order per connection. Falls back to PGLOADBALANCEHOSTS. Default `disable`. */
  loadBalanceHosts?: 'disable' | 'random';
  /** Falls back to PGPORT, then 5432. */
  port?: number;
  /** Falls back to PGDATABASE, then `postgres`. */
  database?: string;
  /** Role to log in as. Falls back to PGUSER; for Entra, then to the token's claims. An explicit user always wins. */
  user?: string;
  /**
   * TLS. Default: verified TLS (certificate and host name) for every host that is not loopback;
   * PGSSLMODE is honoured only where it keeps that (see docs/security.md, TLS policy). `false`
   * or `{ rejectUnauthorized: false }` to a remote host needs `allowInsecureTransport: true`.
   */
  ssl?: boolean | ConnectionOptions;
  /**
   * Lets the secret travel to a host that is not loopback in plaintext or over unverified TLS
   * (`ssl: false`, `rejectUnauthorized: false`, PGSSLMODE disable/allow/no-verify). Logged as a
   * warning. Default false: such settings fail the boot.
   */
  allowInsecureTransport?: boolean;
  pool?: EntraPgPoolOptions;
  /** Passed to every pg.Pool behind PG_POOL (`types`, `statement_timeout`, `keepAlive`, …). */
  pg?: EntraPgPgOptions;
  /** What a consumer's `pool.end()` does while the app runs. Default `'ignore'`. */
  consumerEnd?: EntraPgConsumerEnd;
  /**
   * Any `@azure/identity` TokenCredential (Entra tokens). Default in production: WorkloadIdentityCredential when
   * AZURE_FEDERATED_TOKEN_FILE is set (AKS workload identity), else ManagedIdentityCredential; a developer chain otherwise.
   * Exclusive with `source` and `password`.
   */
  credential?: EntraTokenCredential;
  /** Entra scope. Default `https://ossrdbms-aad.database.windows.net/.default`. */
  scope?: string;
  /**
   * Any other secret source: `AwsRdsIamSource`, `AwsSecretsManagerSource`, `CallbackSource`, or your own
   * PgSecretSource. Exclusive with `credential` and `password`.
   */
  source?: PgSecretSource;
  /** A static password, for local development. Exclusive with `credential` and `source`. */
  password?: string;
  refresh?: EntraPgRefreshOptions;
  /** Skip getting the first secret and `SELECT 1` at bootstrap. Default false. */
  lazyConnect?: boolean;
  /** Start-up attempts after the first one fails. Default 3. */
  retryAttempts?: number;
  /** Delay between start-up attempts. Default 1000. */
  retryDelay?: number;
  /** On shutdown, how long checked-out clients have to be released before their connections are closed. Default 10000. */
  drainTimeoutMs?: number;
  /**
   * Resolves the host name for every connection (and for `dnsRecheckMs`), with Node's
   * `dns.lookup` signature. Default `dns.lookup`. TLS still checks the configured host name.
   */
  lookup?: LookupFunction;
  /**
   * Re-resolve the host name this often (jittered up to 20% earlier), and at once after a connection
   * error; when a connection's server address is no longer among the answers, the connections are
   * replaced as by a rotation (they drain; no query fails). 0 checks only after errors. Default 30000.
   */
  dnsRecheckMs?: number;
  /** `application_name` reported to PostgreSQL. Falls back to PGAPPNAME. */
  applicationName?: string;
  /**
   * Report OpenTelemetry metrics (pool wait and create times, timeouts, token time to expiry,
   * refreshes, rotations) when `@opentelemetry/api` is installed and a global MeterProvider is
   * registered before the app is created. Default true; without a provider nothing is recorded.
   */
  metrics?: boolean;
}

export interface EntraPgRegistrationOptions {
  /** Connection name, for several pools in one app. Default `default`. */
  name?: string;
  /** Make the pool injectable in every module, as @nestjs/typeorm does. Default true. */
  isGlobal?: boolean;
  /**
   * The name of another connection whose secret this one uses: one token refresh feeds both (a
   * writer and its read pool on the replicas, say). This connection then takes no `credential`,
   * `source` or `password` of its own, and logs in as the same user.
   */
  secretFrom?: string;
}

export interface EntraPgOptionsFactory {
  createEntraPgOptions(connectionName?: string): Promise<EntraPgModuleOptions> | EntraPgModuleOptions;
}

export interface EntraPgModuleAsyncOptions extends EntraPgRegistrationOptions, Pick<ModuleMetadata, 'imports'> {
  useFactory?: (...args: never[]) => Promise<EntraPgModuleOptions> | EntraPgModuleOptions;
  inject?: Array<InjectionToken | OptionalFactoryDependency>;
  useClass?: Type<EntraPgOptionsFactory>;
  useExisting?: Type<EntraPgOptionsFactory>;
}
