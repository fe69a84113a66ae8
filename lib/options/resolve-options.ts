import { EntraPgConfigError } from '../entra-pg.errors.js';
import type { EntraPgModuleOptions, EntraPgReservedPgOption } from '../interfaces/entra-pg-options.interface.js';
import { decideTls, isLocalHost } from './tls-policy.js';
import { parseHostList } from '../pool/host-list.js';
import { TARGET_SESSION_ATTRS, type TargetSessionAttrs } from '../pool/target-session.js';
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

interface NumberRule {
  integer?: boolean;
  positive?: boolean;
  max?: number;
}

/**
 * Checks the options, applies the libpq environment (PGHOST, PGPORT, PGDATABASE, PGUSER,
 * PGSSLMODE, PGAPPNAME) and the defaults, once, at bootstrap, before anything is fetched or opened.
 * Every message names the connection and the option, and says what to change; no secret is echoed.
 */
export function resolveOptions(options: unknown, connectionName: string, env: NodeJS.ProcessEnv = process.env): ResolvedEntraPgOptions {
  const fail = (message: string) => new EntraPgConfigError(`EntraPgModule "${connectionName}": ${message}`, connectionName);
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw fail('the options must be an object (did the factory return nothing?).');
  }
  const o = options as Record<string, unknown>;
  const object = (key: string): Record<string, unknown> => {
    const value = o[key];
    if (value === undefined) return {};
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw fail(`${key} must be an object.`);
    return value as Record<string, unknown>;
  };
  const text = (value: unknown, name: string): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value.trim() === '') throw fail(`${name} must be a non-empty string.`);
    return value;
  };
  const flag = (key: keyof typeof ENTRA_PG_DEFAULTS & keyof EntraPgModuleOptions): boolean => {
    const value = o[key] ?? ENTRA_PG_DEFAULTS[key];
    if (typeof value !== 'boolean') throw fail(`${key} must be true or false.`);
    return value;
  };
  // Every duration ends up in a setTimeout, which fires after 1 ms for anything above 2^31-1 ms.
  const number = (value: unknown, name: string, fallback: number, { integer = false, positive = false, max = MAX_TIMER_MS }: NumberRule = {}): number => {
    if (value === undefined) return fallback;
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (!integer || Number.isInteger(value)) &&
      (positive ? value > 0 : value >= 0) &&
      value <= max;
    if (!ok) throw fail(`${name} must be ${positive ? 'a positive' : 'a non-negative'} ${integer ? 'integer' : 'number'} of at most ${max}.`);
    return value as number;
  };

  if (o.credentials !== undefined) {
    throw fail(
      '`credentials` was replaced in 0.2 by `source`: pass `source: new CallbackSource((signal) => vault.getCredentials({ abortSignal: signal }), { label: \'vault secret\' })`, ' +
        'or any object implementing PgSecretSource.',
    );
  }
  const given = SECRET_OPTIONS.filter((key) => o[key] !== undefined);
  if (given.length > 1) throw fail(`give only one of ${SECRET_OPTIONS.join(', ')}; got ${given.join(' and ')}.`);
  if (o.credential !== undefined && typeof (o.credential as { getToken?: unknown } | null)?.getToken !== 'function') {
    throw fail('credential must be a TokenCredential (an object with getToken(), such as ManagedIdentityCredential).');
  }
  if (o.source !== undefined) checkSourceShape(o.source, 'source', connectionName);
  const password = o.password;
  if (password !== undefined && (typeof password !== 'string' || password === '')) throw fail('password must be a non-empty string.');

  // An empty libpq variable counts as unset, as in pg (PGAPPNAME= in an env file); an empty option is a mistake.
  const fromEnv = (name: string): string | undefined => (env[name]?.trim() ? env[name] : undefined);
  const host = text(o.host ?? fromEnv('PGHOST'), o.host === undefined ? 'PGHOST' : 'host');
  if (host === undefined) throw fail('no PostgreSQL host: set the `host` option or PGHOST.');
  const envPort = fromEnv('PGPORT');
  // libpq lists: PGPORT=5432,5433 gives each host of the list its port.
  const envPorts = o.port === undefined && envPort?.includes(',') ? envPort.split(',').map((p) => Number(p.trim())) : undefined;
  if (envPorts?.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) throw fail('PGPORT must be a port or a comma-separated list of ports from 1 to 65535.');
  const port = o.port === undefined && envPort !== undefined && !envPorts ? Number(envPort) : o.port;
  const user = text(o.user ?? fromEnv('PGUSER'), o.user === undefined ? 'PGUSER' : 'user');
  const database = text(o.database ?? fromEnv('PGDATABASE'), o.database === undefined ? 'PGDATABASE' : 'database') ?? ENTRA_PG_DEFAULTS.database;
  const applicationName = text(o.applicationName ?? fromEnv('PGAPPNAME'), o.applicationName === undefined ? 'PGAPPNAME' : 'applicationName');
  const scope = text(o.scope, 'scope') ?? ENTRA_PG_DEFAULTS.scope;
  if (password !== undefined && user === undefined) throw fail('a static password needs a user: set the `user` option or PGUSER.');

  if (o.ssl !== undefined && typeof o.ssl !== 'boolean' && (o.ssl === null || typeof o.ssl !== 'object' || Array.isArray(o.ssl))) {
    throw fail('ssl must be true, false or a tls.ConnectionOptions object.');
  }
  const allowInsecureTransport = flag('allowInsecureTransport');
  const portNumber = number(port, o.port === undefined ? 'PGPORT' : 'port', ENTRA_PG_DEFAULTS.port, { integer: true, positive: true, max: 65535 });
  const hosts = parseHostList(host, envPorts ?? [portNumber], ENTRA_PG_DEFAULTS.port);
  if (typeof hosts === 'string') throw fail(hosts);
  const targetSessionAttrs = (o.targetSessionAttrs ?? fromEnv('PGTARGETSESSIONATTRS') ?? ENTRA_PG_DEFAULTS.targetSessionAttrs) as TargetSessionAttrs;
  if (!TARGET_SESSION_ATTRS.includes(targetSessionAttrs)) {
    throw fail(`targetSessionAttrs (or PGTARGETSESSIONATTRS) must be one of ${TARGET_SESSION_ATTRS.join(', ')}, as in libpq.`);
  }
  const loadBalanceHosts = o.loadBalanceHosts ?? fromEnv('PGLOADBALANCEHOSTS') ?? ENTRA_PG_DEFAULTS.loadBalanceHosts;
  if (loadBalanceHosts !== 'disable' && loadBalanceHosts !== 'random') throw fail(`loadBalanceHosts must be 'disable' or 'random', as in libpq.`);
  // TLS is decided for the host that needs the most of it: the first one that is not loopback.
  const tlsHost = hosts.find((entry) => !isLocalHost(entry.host))?.host ?? hosts[0]!.host;
  const tls = decideTls({ host: tlsHost, ssl: o.ssl as EntraPgModuleOptions['ssl'], allowInsecureTransport, sslMode: env.PGSSLMODE });
  if (!tls.ok) throw fail(tls.error);

  const pg = object('pg');
  const reserved = RESERVED_PG_OPTIONS.filter((key) => pg[key] !== undefined);
  if (reserved.length > 0) {
    throw fail(
      `pg.${reserved.join(', pg.')} cannot be passed through: the module sets ${reserved.length > 1 ? 'them' : 'it'} itself; use the top-level options (host, port, database, user, ssl, pool.*, applicationName) and the secret sources instead.`,
    );
  }
  if (o.lookup !== undefined && typeof o.lookup !== 'function') throw fail('lookup must be a function with the signature of dns.lookup.');
  const consumerEnd = o.consumerEnd ?? ENTRA_PG_DEFAULTS.consumerEnd;
  if (consumerEnd !== 'ignore' && consumerEnd !== 'shutdown') throw fail(`consumerEnd must be 'ignore' or 'shutdown'.`);

  const pool = object('pool');
  const poolDefaults = ENTRA_PG_DEFAULTS.pool;
  const max = number(pool.max, 'pool.max', poolDefaults.max, { integer: true, positive: true });
  const min = number(pool.min, 'pool.min', poolDefaults.min, { integer: true, max });
  const refresh = object('refresh');
  const refreshNumber = (key: keyof RefreshSettings, rule: NumberRule = {}) =>
    number(refresh[key], `refresh.${key}`, DEFAULT_REFRESH_SETTINGS[key] as number, rule);
  const settings: RefreshSettings = {
    marginMs: refreshNumber('marginMs'),
    retryBaseMs: refreshNumber('retryBaseMs', { positive: true }),
    retryMaxMs: refreshNumber('retryMaxMs', { positive: true }),
    jitterRatio: refreshNumber('jitterRatio', { max: 1 }),
    forcedRefreshMinIntervalMs: refreshNumber('forcedRefreshMinIntervalMs'),
    intervalMs: refreshNumber('intervalMs', { positive: true }),
    timeoutMs: refreshNumber('timeoutMs', { positive: true }),
  };
  return {
    connectionName,
    pool: {
      host: hosts[0]!.host,
      port: hosts[0]!.port,
      hosts,
      targetSessionAttrs,
      loadBalanceHosts,
      database,
      user,
      ssl: tls.ssl,
      max,
      min,
      idleTimeoutMillis: number(pool.idleTimeoutMillis, 'pool.idleTimeoutMillis', poolDefaults.idleTimeoutMillis),
      connectionTimeoutMillis: number(pool.connectionTimeoutMillis, 'pool.connectionTimeoutMillis', poolDefaults.connectionTimeoutMillis),
      maxLifetimeSeconds: number(pool.maxLifetimeSeconds, 'pool.maxLifetimeSeconds', poolDefaults.maxLifetimeSeconds, {
        max: Math.floor(MAX_TIMER_MS / 1000),
      }),
      applicationName,
      pg: pg as ResolvedEntraPgOptions['pool']['pg'],
      lookup: o.lookup as ResolvedEntraPgOptions['pool']['lookup'],
      dnsRecheckMs: number(o.dnsRecheckMs, 'dnsRecheckMs', ENTRA_PG_DEFAULTS.dnsRecheckMs),
    },
    refresh: settings,
    source: password !== undefined ? new StaticPasswordSource(password, user) : (o.source as ResolvedEntraPgOptions['source']),
    credential: o.credential as ResolvedEntraPgOptions['credential'],
    scope,
    lazyConnect: flag('lazyConnect'),
    bootAttempts: number(o.retryAttempts, 'retryAttempts', ENTRA_PG_DEFAULTS.retryAttempts, { integer: true, max: 1000 }) + 1,
    retryDelay: number(o.retryDelay, 'retryDelay', ENTRA_PG_DEFAULTS.retryDelay),
    drainTimeoutMs: number(o.drainTimeoutMs, 'drainTimeoutMs', ENTRA_PG_DEFAULTS.drainTimeoutMs),
    consumerEnd,
    metrics: flag('metrics'),
    insecureTransport: tls.insecure,
    sslOffBecause: tls.ssl !== false ? undefined : o.ssl === false ? 'ssl: false' : env.PGSSLMODE ? `PGSSLMODE=${env.PGSSLMODE}` : undefined,
  };
  // Whether the source needs TLS and whether it is polled is decided by withSource(), on the source
  // in use: a test may replace this one on PG_SECRET_SOURCE.
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
