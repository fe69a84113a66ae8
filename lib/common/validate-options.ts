import { EntraPgConfigError } from '../entra-pg.errors.js';
import type { EntraPgModuleOptions } from '../interfaces/entra-pg-options.interface.js';

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
  for (const key of ['lazyConnect', 'allowInsecureTransport'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean') throw fail(`${key} must be true or false.`);
  }
  const count = (value: unknown, name: string, { integer = false, positive = false } = {}) => {
    if (value === undefined) return;
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (integer ? Number.isInteger(value) : true) &&
      (positive ? value > 0 : value >= 0);
    if (!ok) throw fail(`${name} must be ${positive ? 'a positive' : 'a non-negative'} ${integer ? 'integer' : 'number'}.`);
  };
  count(o.port, 'port', { integer: true, positive: true });
  count(o.retryAttempts, 'retryAttempts', { integer: true });
  count(o.retryDelay, 'retryDelay');
  count(o.drainTimeoutMs, 'drainTimeoutMs');
  for (const [group, keys] of [
    ['pool', ['max', 'min', 'idleTimeoutMillis', 'connectionTimeoutMillis', 'maxLifetimeSeconds']],
    ['refresh', ['marginMs', 'retryBaseMs', 'retryMaxMs', 'jitterRatio', 'forcedRefreshMinIntervalMs', 'intervalMs']],
  ] as const) {
    const value = o[group];
    if (value === undefined) continue;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw fail(`${group} must be an object.`);
    for (const key of keys) {
      const isInteger = group === 'pool' && (key === 'max' || key === 'min');
      count((value as Record<string, unknown>)[key], `${group}.${key}`, {
        integer: isInteger,
        positive: key === 'max' || key === 'retryBaseMs' || key === 'retryMaxMs' || key === 'intervalMs',
      });
    }
  }
  const jitter = (o.refresh as { jitterRatio?: number } | undefined)?.jitterRatio;
  if (jitter !== undefined && jitter > 1) throw fail('refresh.jitterRatio must be between 0 and 1.');
  return options as EntraPgModuleOptions;
}
