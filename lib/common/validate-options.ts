import { EntraPgConfigError } from '../entra-pg.errors.js';
import type { EntraPgModuleOptions, EntraPgReservedPgOption } from '../interfaces/entra-pg-options.interface.js';
import { MAX_TIMER_MS } from '../refresh/refresh-schedule.js';

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

/**
 * Rejects option objects that cannot work, with a message that says what to change. Runs at
 * bootstrap, before anything is fetched or opened. Values of secrets are never echoed.
 */
export function validateOptions(options: unknown, connectionName: string): EntraPgModuleOptions {
  const fail = (message: string) => new EntraPgConfigError(`EntraPgModule "${connectionName}": ${message}`, connectionName);
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw fail('the options must be an object (did the factory return nothing?).');
  }
  const o = options as Record<string, unknown>;
  const modes = (['credential', 'credentials', 'password'] as const).filter((key) => o[key] !== undefined);
  if (modes.length > 1) {
    throw fail(`give only one of credential, credentials and password; got ${modes.join(' and ')}.`);
  }
  if (o.credential !== undefined && typeof (o.credential as { getToken?: unknown } | null)?.getToken !== 'function') {
    throw fail('credential must be a TokenCredential (an object with getToken(), such as ManagedIdentityCredential).');
  }
  if (
    o.credentials !== undefined &&
    typeof (o.credentials as { getCredentials?: unknown } | null)?.getCredentials !== 'function'
  ) {
    throw fail('credentials must be an object with getCredentials(): Promise<{ user?, password, expiresAt? }>.');
  }
  if (o.password !== undefined && (typeof o.password !== 'string' || o.password === '')) {
    throw fail('password must be a non-empty string.');
  }
  if (o.scope !== undefined && (typeof o.scope !== 'string' || o.scope.trim() === '')) {
    throw fail('scope must be a non-empty string, such as https://ossrdbms-aad.database.windows.net/.default.');
  }
  for (const key of ['host', 'database', 'user', 'applicationName'] as const) {
    if (o[key] !== undefined && (typeof o[key] !== 'string' || o[key] === '')) {
      throw fail(`${key} must be a non-empty string.`);
    }
  }
  if (o.pg !== undefined) {
    if (o.pg === null || typeof o.pg !== 'object' || Array.isArray(o.pg)) throw fail('pg must be an object of node-postgres options.');
    const reserved = RESERVED_PG_OPTIONS.filter((key) => (o.pg as Record<string, unknown>)[key] !== undefined);
    if (reserved.length > 0) {
      throw fail(
        `pg.${reserved.join(', pg.')} cannot be passed through: the module sets ${reserved.length > 1 ? 'them' : 'it'} itself; use the top-level options (host, port, database, user, ssl, pool.*, applicationName) and the secret sources instead.`,
      );
    }
  }
  if (o.consumerEnd !== undefined && o.consumerEnd !== 'ignore' && o.consumerEnd !== 'shutdown') {
    throw fail(`consumerEnd must be 'ignore' or 'shutdown'.`);
  }
  for (const key of ['lazyConnect', 'allowInsecureTransport', 'metrics'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean') throw fail(`${key} must be true or false.`);
  }
  // Every duration ends up in a setTimeout, which fires after 1 ms for anything above 2^31-1 ms.
  const count = (value: unknown, name: string, { integer = false, positive = false, max = MAX_TIMER_MS } = {}) => {
    if (value === undefined) return;
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (integer ? Number.isInteger(value) : true) &&
      (positive ? value > 0 : value >= 0) &&
      value <= max;
    if (!ok) {
      throw fail(`${name} must be ${positive ? 'a positive' : 'a non-negative'} ${integer ? 'integer' : 'number'} of at most ${max}.`);
    }
  };
  count(o.port, 'port', { integer: true, positive: true, max: 65535 });
  count(o.retryAttempts, 'retryAttempts', { integer: true, max: 1000 });
  count(o.retryDelay, 'retryDelay');
  count(o.drainTimeoutMs, 'drainTimeoutMs');
  const positiveKeys = new Set(['max', 'retryBaseMs', 'retryMaxMs', 'intervalMs', 'timeoutMs']);
  for (const [group, keys] of [
    ['pool', ['max', 'min', 'idleTimeoutMillis', 'connectionTimeoutMillis', 'maxLifetimeSeconds']],
    ['refresh', ['marginMs', 'retryBaseMs', 'retryMaxMs', 'jitterRatio', 'forcedRefreshMinIntervalMs', 'intervalMs', 'timeoutMs']],
  ] as const) {
    const value = o[group];
    if (value === undefined) continue;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw fail(`${group} must be an object.`);
    for (const key of keys) {
      const isInteger = group === 'pool' && (key === 'max' || key === 'min');
      count((value as Record<string, unknown>)[key], `${group}.${key}`, {
        integer: isInteger,
        positive: positiveKeys.has(key),
        max: key === 'maxLifetimeSeconds' ? Math.floor(MAX_TIMER_MS / 1000) : key === 'jitterRatio' ? 1 : MAX_TIMER_MS,
      });
    }
  }
  return options as EntraPgModuleOptions;
}
