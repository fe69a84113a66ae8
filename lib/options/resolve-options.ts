import { EntraPgConfigError } from '../entra-pg.errors.js';
import type { EntraPgModuleOptions, EntraPgReservedPgOption } from '../interfaces/entra-pg-options.interface.js';
import { decideTls, isLocalHost } from './tls-policy.js';
import { type HostEntry, parseHostList, TARGET_SESSION_ATTRS, type TargetSessionAttrs } from '../pool/server-selection.js';
import { type ConnectionStringParts, parseConnectionString } from './connection-string.js';
import { type NumberRule, OptionReader } from './option-reader.js';
import { MAX_TIMER_MS, type RefreshSettings } from '../refresh/refresh-schedule.js';
import type { PgSecretSource } from '../sources/pg-secret-source.interface.js';
import { StaticPasswordSource } from '../sources/static-password.source.js';
import { DEFAULT_REFRESH_SETTINGS, ENTRA_PG_DEFAULTS } from './entra-pg.defaults.js';
import type { ResolvedEntraPgOptions } from './resolved-options.interface.js';

const RESERVED_PG_OPTIONS: readonly EntraPgReservedPgOption[] = [
  'host',
  'port',
  'database',
  'user',
  'password',
  'ssl',
  'connectionString',
  'max',
  'min',
  'idleTimeoutMillis',
  'connectionTimeoutMillis',
  'maxLifetimeSeconds',
  'application_name',
  'Client',
  'Promise',
  'stream',
];

const SECRET_OPTIONS = ['credential', 'source', 'password'] as const;

/**
 * Checks the options, applies the libpq environment (PGHOST, PGPORT, PGDATABASE, PGUSER,
 * PGSSLMODE, PGAPPNAME) and the defaults, once, at bootstrap, before anything is fetched or opened.
 * Every message names the connection and the option, and says what to change; no secret is echoed.
 */
export function resolveOptions(options: unknown, connectionName: string, env: NodeJS.ProcessEnv = process.env): ResolvedEntraPgOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new OptionReader({}, connectionName, env).fail('the options must be an object (did the factory return nothing?).');
  }
  const read = new OptionReader(options as Record<string, unknown>, connectionName, env);
  const o = read.raw;
  const password = readSecretChoice(read);
  const url = o.connectionString === undefined ? {} : parseConnectionString(read.text(o.connectionString, 'connectionString')!, (m) => read.fail(m));
  const target = readTarget(read, url);
  if (password !== undefined && target.user === undefined) throw read.fail('a static password needs a user: set the `user` option or PGUSER.');
  const transport = readTransport(read, target.hosts, url.sslmode);
  const pg = readPgPassthrough(read, url.options);
  const consumerEnd = o.consumerEnd ?? ENTRA_PG_DEFAULTS.consumerEnd;
  if (consumerEnd !== 'ignore' && consumerEnd !== 'shutdown') throw read.fail(`consumerEnd must be 'ignore' or 'shutdown'.`);
  if (o.lookup !== undefined && typeof o.lookup !== 'function') throw read.fail('lookup must be a function with the signature of dns.lookup.');
  return {
    connectionName,
    pool: {
      ...target,
      ssl: transport.ssl,
      ...readPoolSizing(read, pg),
      pg: pg as ResolvedEntraPgOptions['pool']['pg'],
      lookup: o.lookup as ResolvedEntraPgOptions['pool']['lookup'],
      dnsRecheckMs: read.number(o.dnsRecheckMs, 'dnsRecheckMs', ENTRA_PG_DEFAULTS.dnsRecheckMs),
    },
    refresh: readRefresh(read),
    source: password !== undefined ? new StaticPasswordSource(password, target.user) : (o.source as ResolvedEntraPgOptions['source']),
    credential: o.credential as ResolvedEntraPgOptions['credential'],
    scope: read.text(o.scope, 'scope') ?? ENTRA_PG_DEFAULTS.scope,
    lazyConnect: read.flag('lazyConnect', ENTRA_PG_DEFAULTS.lazyConnect),
    bootAttempts: read.number(o.retryAttempts, 'retryAttempts', ENTRA_PG_DEFAULTS.retryAttempts, { integer: true, max: 1000 }) + 1,
    retryDelay: read.number(o.retryDelay, 'retryDelay', ENTRA_PG_DEFAULTS.retryDelay),
    drainTimeoutMs: read.number(o.drainTimeoutMs, 'drainTimeoutMs', ENTRA_PG_DEFAULTS.drainTimeoutMs),
    consumerEnd,
    metrics: read.flag('metrics', ENTRA_PG_DEFAULTS.metrics),
    insecureTransport: transport.insecure,
    sslOffBecause: transport.sslOffBecause,
  };
  // Whether the source needs TLS and whether it is polled is decided by withSource(), on the source
  // in use: a test may replace this one on PG_SECRET_SOURCE.
}

/** Which secret option is given (one at most), each of the right shape; the static password if that is the one. */
function readSecretChoice(read: OptionReader): string | undefined {
  const o = read.raw;
  if (o.credentials !== undefined) {
    throw read.fail(
      '`credentials` was replaced in 0.2 by `source`: pass `source: new CallbackSource((signal) => vault.getCredentials({ abortSignal: signal }), { label: \'vault secret\' })`, ' +
        'or any object implementing PgSecretSource.',
    );
  }
  const given = SECRET_OPTIONS.filter((key) => o[key] !== undefined);
  if (given.length > 1) throw read.fail(`give only one of ${SECRET_OPTIONS.join(', ')}; got ${given.join(' and ')}.`);
  if (o.credential !== undefined && typeof (o.credential as { getToken?: unknown } | null)?.getToken !== 'function') {
    throw read.fail('credential must be a TokenCredential (an object with getToken(), such as ManagedIdentityCredential).');
  }
  if (o.source !== undefined) checkSourceShape(o.source, 'source', read.connectionName);
  const password = o.password;
  if (password !== undefined && (typeof password !== 'string' || password === '')) throw read.fail('password must be a non-empty string.');
  return password as string | undefined;
}

/**
 * Where to connect: an option wins over the connection string, which wins over the libpq
 * environment. `host` may be a libpq list (`a,b`, `name:port`), PGPORT a list of ports.
 */
function readTarget(read: OptionReader, url: ConnectionStringParts) {
  const o = read.raw;
  const setting = (key: 'host' | 'user' | 'database' | 'applicationName' | 'targetSessionAttrs', envName: string): string | undefined => {
    if (o[key] !== undefined) return read.text(o[key], key);
    if (url[key] !== undefined) return read.text(url[key], `connectionString's ${key}`);
    return read.text(read.fromEnv(envName), envName);
  };
  const host = setting('host', 'PGHOST');
  if (host === undefined) throw read.fail('no PostgreSQL host: set the `host` option, a connectionString, or PGHOST.');
  const hosts = parseHostList(host, readPorts(read, url), ENTRA_PG_DEFAULTS.port);
  if (typeof hosts === 'string') throw read.fail(hosts);
  const targetSessionAttrs = (setting('targetSessionAttrs', 'PGTARGETSESSIONATTRS') ?? ENTRA_PG_DEFAULTS.targetSessionAttrs) as TargetSessionAttrs;
  if (!TARGET_SESSION_ATTRS.includes(targetSessionAttrs)) {
    throw read.fail(`targetSessionAttrs (or PGTARGETSESSIONATTRS) must be one of ${TARGET_SESSION_ATTRS.join(', ')}, as in libpq.`);
  }
  const loadBalanceHosts = o.loadBalanceHosts ?? read.fromEnv('PGLOADBALANCEHOSTS') ?? ENTRA_PG_DEFAULTS.loadBalanceHosts;
  if (loadBalanceHosts !== 'disable' && loadBalanceHosts !== 'random') throw read.fail(`loadBalanceHosts must be 'disable' or 'random', as in libpq.`);
  return {
    host: hosts[0]!.host,
    port: hosts[0]!.port,
    hosts,
    targetSessionAttrs,
    loadBalanceHosts: loadBalanceHosts as 'disable' | 'random',
    database: setting('database', 'PGDATABASE') ?? ENTRA_PG_DEFAULTS.database,
    user: setting('user', 'PGUSER'),
    applicationName: setting('applicationName', 'PGAPPNAME'),
  };
}

/** The port for every host, or (PGPORT=5432,5433, as libpq reads it) one per host of the list. */
function readPorts(read: OptionReader, url: ConnectionStringParts): number[] {
  const o = read.raw;
  const envPort = read.fromEnv('PGPORT');
  if (o.port === undefined && url.port === undefined && envPort?.includes(',')) {
    const ports = envPort.split(',').map((p) => Number(p.trim()));
    if (ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) throw read.fail('PGPORT must be a port or a comma-separated list of ports from 1 to 65535.');
    return ports;
  }
  const port = o.port ?? url.port ?? (envPort !== undefined ? Number(envPort) : undefined);
  const portName = o.port !== undefined ? 'port' : url.port !== undefined ? "connectionString's port" : 'PGPORT';
  return [read.number(port, portName, ENTRA_PG_DEFAULTS.port, { integer: true, positive: true, max: 65535 })];
}

/** TLS from `ssl`, the URL's sslmode or PGSSLMODE, under the TLS policy; and why it is off, for later messages. */
function readTransport(read: OptionReader, hosts: HostEntry[], urlSslMode: string | undefined) {
  const { raw: o, env } = read;
  if (o.ssl !== undefined && typeof o.ssl !== 'boolean' && (o.ssl === null || typeof o.ssl !== 'object' || Array.isArray(o.ssl))) {
    throw read.fail('ssl must be true, false or a tls.ConnectionOptions object.');
  }
  const allowInsecureTransport = read.flag('allowInsecureTransport', ENTRA_PG_DEFAULTS.allowInsecureTransport);
  // TLS is decided for the host that needs the most of it: the first one that is not loopback.
  const host = hosts.find((entry) => !isLocalHost(entry.host))?.host ?? hosts[0]!.host;
  const tls = decideTls({ host, ssl: o.ssl as EntraPgModuleOptions['ssl'], allowInsecureTransport, sslMode: urlSslMode ?? env.PGSSLMODE });
  if (!tls.ok) throw read.fail(tls.error);
  let sslOffBecause: string | undefined;
  if (tls.ssl === false) {
    if (o.ssl === false) sslOffBecause = 'ssl: false';
    else if (urlSslMode !== undefined) sslOffBecause = `sslmode=${urlSslMode} in connectionString`;
    else if (env.PGSSLMODE) sslOffBecause = `PGSSLMODE=${env.PGSSLMODE}`;
  }
  return { ssl: tls.ssl, insecure: tls.insecure, sslOffBecause };
}

/** The `pg` options passed through (a copy), refusing the ones the module sets itself. */
function readPgPassthrough(read: OptionReader, urlOptions: string | undefined): Record<string, unknown> {
  const pg = { ...read.object('pg') };
  const reserved = RESERVED_PG_OPTIONS.filter((key) => pg[key] !== undefined);
  if (reserved.length > 0) {
    throw read.fail(
      `pg.${reserved.join(', pg.')} cannot be passed through: the module sets ${reserved.length > 1 ? 'them' : 'it'} itself; use the top-level options (host, port, database, user, ssl, pool.*, applicationName) and the secret sources instead.`,
    );
  }
  if (urlOptions !== undefined && pg.options === undefined) pg.options = urlOptions;
  return pg;
}

/** `pool.*`, with pg-pool's `poolSize` read as an alias of `max` (max wins), as pool.poolSize or pg.poolSize. */
function readPoolSizing(read: OptionReader, pg: Record<string, unknown>) {
  const pool = read.object('pool');
  const defaults = ENTRA_PG_DEFAULTS.pool;
  const sizeKey = pool.max !== undefined ? 'pool.max' : pool.poolSize !== undefined ? 'pool.poolSize' : 'pg.poolSize';
  const max = read.number(pool.max ?? pool.poolSize ?? pg.poolSize, sizeKey, defaults.max, { integer: true, positive: true });
  delete pg.poolSize;
  return {
    max,
    min: read.number(pool.min, 'pool.min', defaults.min, { integer: true, max }),
    idleTimeoutMillis: read.number(pool.idleTimeoutMillis, 'pool.idleTimeoutMillis', defaults.idleTimeoutMillis),
    connectionTimeoutMillis: read.number(pool.connectionTimeoutMillis, 'pool.connectionTimeoutMillis', defaults.connectionTimeoutMillis),
    maxLifetimeSeconds: read.number(pool.maxLifetimeSeconds, 'pool.maxLifetimeSeconds', defaults.maxLifetimeSeconds, {
      max: Math.floor(MAX_TIMER_MS / 1000),
    }),
  };
}

function readRefresh(read: OptionReader): RefreshSettings {
  const refresh = read.object('refresh');
  const value = (key: keyof RefreshSettings, rule: NumberRule = {}) => read.number(refresh[key], `refresh.${key}`, DEFAULT_REFRESH_SETTINGS[key] as number, rule);
  return {
    marginMs: value('marginMs'),
    retryBaseMs: value('retryBaseMs', { positive: true }),
    retryMaxMs: value('retryMaxMs', { positive: true }),
    jitterRatio: value('jitterRatio', { max: 1 }),
    forcedRefreshMinIntervalMs: value('forcedRefreshMinIntervalMs'),
    intervalMs: value('intervalMs', { positive: true }),
    timeoutMs: value('timeoutMs', { positive: true }),
  };
}

/**
 * The options as they apply to the source the connection actually reads, at bootstrap: the
 * `source` or `password` option, or whatever PG_SECRET_SOURCE was overridden with (its shape is
 * checked here, since an override never went through resolveOptions). A copy: the options of the
 * module are not changed.
 */
export function withSource(options: ResolvedEntraPgOptions, source: PgSecretSource): ResolvedEntraPgOptions {
  const name = options.connectionName;
  if (source !== options.source) checkSourceShape(source, 'PG_SECRET_SOURCE', name);
  if (source.requiresTls === true && options.pool.ssl === false) {
    // Nothing to remove when loopback left TLS off by default (an SSH tunnel or a local proxy to the server).
    const fix = options.sslOffBecause === undefined ? ' (a loopback address: TLS is off unless asked for);' : ` (${options.sslOffBecause}). Remove that setting, or`;
    throw new EntraPgConfigError(
      `EntraPgModule "${name}": ${source.label}s are accepted only over TLS, and ssl is off for ${options.pool.host}${fix} ` +
        'pass ssl: { ca } with the server\'s certificate authority.',
      name,
    );
  }
  // A secret that never changes is read once; only a rotating one is polled.
  return source.neverRotates === true ? { ...options, refresh: { ...options.refresh, intervalMs: undefined } } : options;
}

function checkSourceShape(value: unknown, what: string, connectionName: string): void {
  const source = value as { fetch?: unknown; label?: unknown } | null;
  if (typeof source?.fetch !== 'function' || typeof source.label !== 'string' || source.label === '') {
    throw new EntraPgConfigError(
      `EntraPgModule "${connectionName}": ${what} must implement PgSecretSource: a non-empty \`label\` and ` +
        '`fetch(signal): Promise<{ password, user?, expiresAt?, refreshAfter? }>`.',
      connectionName,
    );
  }
}
