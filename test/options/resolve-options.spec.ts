import { EntraPgConfigError } from '../../lib/index.js';
import { resolveOptions } from '../../lib/options/resolve-options.js';

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
    expect(() => resolvePoolConfig({}, 'reports', {})).toThrow(/EntraPgModule "reports": no PostgreSQL host: set the `host` option or PGHOST/);
    expect(() => resolvePoolConfig({}, 'default', { PGHOST: 'h', PGPORT: 'abc' })).toThrow(/PGPORT must be a positive integer of at most 65535/);
  });
});
