import { CallbackSource, EntraPgConfigError, StaticPasswordSource } from '../../lib/index.js';
import { DEFAULT_REFRESH_SETTINGS, ENTRA_PG_DEFAULTS } from '../../lib/options/entra-pg.defaults.js';
import { resolveOptions, withSource } from '../../lib/options/resolve-options.js';

const resolvePoolConfig = (options: object, name: string, env: NodeJS.ProcessEnv) => resolveOptions(options, name, env).pool;

describe('resolveOptions: where to connect', () => {
  it('verifies TLS (certificate and host name) by default for Azure hosts', () => {
    const config = resolvePoolConfig({ host: 'orders.postgres.database.azure.com' }, 'default', {});
    // pg's `ssl: true` means a verified connection: Node's CA store and host name check.
    expect(config.ssl).toBe(true);
  });

  it('always gives pg an explicit ssl value, so pg never applies its own PGSSLMODE rules', () => {
    expect(resolvePoolConfig({ host: 'localhost' }, 'default', {}).ssl).toBe(false);
    expect(resolvePoolConfig({ host: 'db.internal' }, 'default', { PGSSLMODE: 'require' }).ssl).toBe(true);
    expect(resolvePoolConfig({ host: 'x.postgres.database.azure.com', ssl: { ca: 'pem' } }, 'default', {}).ssl).toEqual({ ca: 'pem' });
    expect(() => resolvePoolConfig({ host: 'db.internal' }, 'reports', { PGSSLMODE: 'disable' })).toThrow(
      /EntraPgModule "reports": Refusing to send/,
    );
  });

  it('falls back to the libpq environment variables', () => {
    const config = resolvePoolConfig({}, 'default', { PGHOST: 'db.internal', PGPORT: '6543', PGDATABASE: 'orders', PGUSER: 'svc' });
    expect(config).toMatchObject({ host: 'db.internal', port: 6543, database: 'orders', user: 'svc' });
    expect(resolvePoolConfig({ host: 'h', port: 5433, user: 'explicit' }, 'default', { PGPORT: '1', PGUSER: 'env' })).toMatchObject({
      port: 5433,
      user: 'explicit',
    });
  });

  it('rejects what cannot work, saying what to set', () => {
    expect(() => resolvePoolConfig({}, 'reports', {})).toThrow(EntraPgConfigError);
    expect(() => resolvePoolConfig({}, 'reports', {})).toThrow(/EntraPgModule "reports": no PostgreSQL host: set the `host` option, a connectionString, or PGHOST/);
    expect(() => resolvePoolConfig({}, 'default', { PGHOST: 'h', PGPORT: 'abc' })).toThrow(/PGPORT must be a positive integer of at most 65535/);
  });

  it('treats an empty libpq variable as unset, as pg does (PGAPPNAME= in an env file booted before 0.2)', () => {
    const empty = { PGHOST: 'h', PGPORT: '', PGDATABASE: '', PGUSER: '', PGAPPNAME: '' };
    expect(resolveOptions({}, 'default', empty).pool).toMatchObject({ port: 5432, database: 'postgres', user: undefined, applicationName: undefined });
    expect(() => resolvePoolConfig({}, 'reports', { PGHOST: ' ' })).toThrow(/EntraPgModule "reports": no PostgreSQL host: set the `host` option, a connectionString, or PGHOST/);
    // An empty option in code is still a mistake worth a message.
    expect(() => resolvePoolConfig({ host: 'h', applicationName: '' }, 'default', {})).toThrow(/applicationName must be a non-empty string/);
  });
});

describe('resolveOptions: defaults, sources and one wording per check', () => {
  const resolve = (options: object, env: NodeJS.ProcessEnv = {}) => resolveOptions({ host: 'localhost', ...options }, 'orders', env);

  it('fills every default from the one defaults file', () => {
    const resolved = resolve({});
    expect(resolved.pool).toMatchObject({ port: ENTRA_PG_DEFAULTS.port, database: ENTRA_PG_DEFAULTS.database, ...ENTRA_PG_DEFAULTS.pool });
    expect(resolved.refresh).toEqual(DEFAULT_REFRESH_SETTINGS);
    expect(resolved).toMatchObject({
      scope: ENTRA_PG_DEFAULTS.scope,
      consumerEnd: ENTRA_PG_DEFAULTS.consumerEnd,
      lazyConnect: false,
      metrics: true,
      bootAttempts: ENTRA_PG_DEFAULTS.retryAttempts + 1,
      retryDelay: ENTRA_PG_DEFAULTS.retryDelay,
      drainTimeoutMs: ENTRA_PG_DEFAULTS.drainTimeoutMs,
      source: undefined,
    });
    expect(resolve({}, { PGAPPNAME: 'orders-api' }).pool.applicationName).toBe('orders-api');
  });

  it('builds the static source from `password`, read once and never polled', async () => {
    const resolved = resolve({ user: 'dev', password: 'local-only' });
    expect(resolved.source).toBeInstanceOf(StaticPasswordSource);
    expect(withSource(resolved, resolved.source!).refresh.intervalMs).toBeUndefined();
    await expect(resolved.source!.fetch(new AbortController().signal)).resolves.toEqual({ user: 'dev', password: 'local-only' });
    const rotating = new CallbackSource(async () => ({ password: 'p' }));
    expect(withSource(resolve({ source: rotating }), rotating).refresh.intervalMs).toBe(DEFAULT_REFRESH_SETTINGS.intervalMs);
    // A rotating source put on PG_SECRET_SOURCE in place of a static password is polled.
    expect(withSource(resolved, rotating).refresh.intervalMs).toBe(DEFAULT_REFRESH_SETTINGS.intervalMs);
  });

  it("refuses 0.1's `credentials` with the recipe that replaces it", () => {
    expect(() => resolve({ credentials: { getCredentials: async () => ({ password: 'p' }) } })).toThrow(
      /EntraPgModule "orders": `credentials` was replaced in 0\.2 by `source`: pass `source: new CallbackSource\(/,
    );
  });

  it('refuses a source that needs TLS on a connection without it, and lets it through with TLS', () => {
    const rdsLike = { label: 'RDS IAM token', requiresTls: true, fetch: async () => ({ password: 'p' }) };
    // Checked on the source the connection uses (withSource, at bootstrap), which a test may have replaced.
    const check = (options: object) => withSource(resolveOptions({ source: rdsLike, ...options }, 'orders', {}), rdsLike);
    expect(() => check({ host: 'localhost' })).toThrow(
      /EntraPgModule "orders": RDS IAM tokens are accepted only over TLS, and ssl is off for localhost/,
    );
    expect(() => check({ host: 'db.internal', ssl: false, allowInsecureTransport: true })).toThrow(/\(ssl: false\)/);
    expect(check({ host: 'localhost', ssl: { ca: 'pem' } }).pool.ssl).toEqual({ ca: 'pem' });
  });

  it('words each kind of check once: option name, what it must be, the connection', () => {
    const message = (options: object) => {
      try {
        resolve(options);
      } catch (error) {
        return (error as Error).message;
      }
      return 'accepted';
    };
    expect(message({ pool: { max: 0 } })).toBe('EntraPgModule "orders": pool.max must be a positive integer of at most 2147483647.');
    expect(message({ refresh: { timeoutMs: -1 } })).toBe('EntraPgModule "orders": refresh.timeoutMs must be a positive number of at most 2147483647.');
    expect(message({ drainTimeoutMs: 2 ** 31 })).toBe('EntraPgModule "orders": drainTimeoutMs must be a non-negative number of at most 2147483647.');
    expect(message({ database: '' })).toBe('EntraPgModule "orders": database must be a non-empty string.');
    expect(message({ lazyConnect: 'yes' })).toBe('EntraPgModule "orders": lazyConnect must be true or false.');
  });
});
