import type { LookupFunction } from 'node:net';
import type pg from 'pg';
import { ENTRA_PG_DEFAULTS } from '../options/entra-pg.defaults.js';
import type { HostEntry } from './host-list.js';
import { socketFactory } from './socket-factory.js';
import type { LoadBalanceHosts, TargetSessionAttrs } from './target-session.js';
import type { EntraPgPgOptions } from '../interfaces/entra-pg-options.interface.js';
import type { PgSsl } from '../options/tls-policy.js';

/** Where to connect and how: the pool's part of the resolved options (lib/options/resolve-options.ts). */
export interface ResolvedPoolConfig {
  host: string;
  port: number;
  database: string;
  /** The explicit role; undefined when it comes from the token or the secret source. */
  user: string | undefined;
  /** Always explicit (never undefined), so pg does not read PGSSLMODE with its own, weaker rules. */
  ssl: PgSsl;
  max: number;
  min: number;
  idleTimeoutMillis: number;
  connectionTimeoutMillis: number;
  maxLifetimeSeconds: number;
  applicationName: string | undefined;
  /** Passed through to every generation's pg.Pool. */
  pg: EntraPgPgOptions;
  /** Name resolution for every connection's socket and for the DNS watch; undefined means dns.lookup. */
  lookup: LookupFunction | undefined;
  /** How often the host name is resolved again to follow a move; 0 only after connection errors. */
  dnsRecheckMs: number;
  /** Every host of the list (`host` and `port` are the first); one entry without a list. */
  hosts: HostEntry[];
  targetSessionAttrs: TargetSessionAttrs;
  loadBalanceHosts: LoadBalanceHosts;
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
