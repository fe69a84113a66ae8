import { Logger } from '@nestjs/common';
import type pg from 'pg';
import { EntraPgConfigError } from '../entra-pg.errors.js';
import type { EntraPgModuleOptions, EntraPgPgOptions } from '../interfaces/entra-pg-options.interface.js';
import { type PgSsl, decideTls } from './tls-policy.js';

/** Where to connect and how, resolved once from the options and the libpq environment. */
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

export function resolvePoolConfig(
  options: EntraPgModuleOptions,
  connectionName: string,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedPoolConfig {
  const fail = (message: string) => new EntraPgConfigError(message, connectionName);
  const host = options.host ?? env.PGHOST;
  if (typeof host !== 'string' || host.trim() === '') {
    throw fail(`No PostgreSQL host for connection "${connectionName}": set the \`host\` option or PGHOST.`);
  }
  const port = options.port ?? (env.PGPORT ? Number(env.PGPORT) : 5432);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw fail(`Invalid port ${JSON.stringify(options.port ?? env.PGPORT)}: use an integer from 1 to 65535.`);
  }
  const pool = options.pool ?? {};
  const max = pool.max ?? 10;
  if (!Number.isInteger(max) || max < 1) {
    throw fail(`Invalid pool.max ${JSON.stringify(pool.max)}: the pool size must be a positive integer.`);
  }
  const min = pool.min ?? 0;
  if (!Number.isInteger(min) || min < 0 || min > max) {
    throw fail(`Invalid pool.min ${JSON.stringify(pool.min)}: use an integer from 0 to pool.max (${max}).`);
  }
  const nonNegative = (value: unknown, name: string, fallback: number): number => {
    const resolved = value ?? fallback;
    if (typeof resolved !== 'number' || !Number.isFinite(resolved) || resolved < 0) {
      throw fail(`Invalid ${name} ${JSON.stringify(value)}: use a number of 0 or more.`);
    }
    return resolved;
  };
  const database = options.database ?? env.PGDATABASE ?? 'postgres';
  const user = options.user ?? env.PGUSER;
  for (const [name, value] of [
    ['database', database],
    ['user', user],
  ] as const) {
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      throw fail(`Invalid ${name} ${JSON.stringify(value)}: use a non-empty string.`);
    }
  }
  if (options.ssl !== undefined && typeof options.ssl !== 'boolean' && (options.ssl === null || typeof options.ssl !== 'object')) {
    throw fail('Invalid ssl option: use true, false or a tls.ConnectionOptions object.');
  }
  const tls = decideTls({ host, ssl: options.ssl, allowInsecureTransport: options.allowInsecureTransport, sslMode: env.PGSSLMODE });
  if (!tls.ok) throw fail(`PostgreSQL connection "${connectionName}": ${tls.error}`);
  // Once per connection: the config is resolved once, at bootstrap.
  if (tls.insecure) new Logger(`EntraPg:${connectionName}`).warn(`Insecure transport: ${tls.insecure}`);
  const ssl = tls.ssl;
  return {
    host,
    port,
    database,
    user,
    ssl,
    max,
    min,
    idleTimeoutMillis: nonNegative(pool.idleTimeoutMillis, 'pool.idleTimeoutMillis', 10_000),
    connectionTimeoutMillis: nonNegative(pool.connectionTimeoutMillis, 'pool.connectionTimeoutMillis', 0),
    maxLifetimeSeconds: nonNegative(pool.maxLifetimeSeconds, 'pool.maxLifetimeSeconds', 0),
    applicationName: options.applicationName,
    pg: options.pg ?? {},
  };
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
    application_name: config.applicationName,
  };
}
