import type pg from 'pg';
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
  };
}
