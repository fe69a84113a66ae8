import { EntraPgConfigError } from '../../lib/index.js';
import { resolveOptions } from '../../lib/options/resolve-options.js';

const resolve = (options: object, env: NodeJS.ProcessEnv = {}) => resolveOptions(options, 'orders', env);
const messageOf = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(EntraPgConfigError);
    return (error as Error).message;
  }
  return 'accepted';
};

describe('connectionString: a DATABASE_URL without a password', () => {
  it('reads host, port, database, user, sslmode, application_name and options', () => {
    const resolved = resolve({
      connectionString: 'postgresql://app%40corp@orders.postgres.database.azure.com:6432/orders%2Fdb?sslmode=verify-full&application_name=api&options=-c%20search_path%3Dapp',
    });
    expect(resolved.pool).toMatchObject({
      host: 'orders.postgres.database.azure.com',
      port: 6432,
      database: 'orders/db',
      user: 'app@corp',
      applicationName: 'api',
      ssl: true,
    });
    expect(resolved.pool.pg.options).toBe('-c search_path=app');
  });

  it('an explicit option wins over the URL, the URL over the PG* environment', () => {
    const env = { PGHOST: 'env-host', PGPORT: '1111', PGDATABASE: 'env-db', PGUSER: 'env-user' };
    expect(resolve({ connectionString: 'postgres://url-user@url-host:2222/url-db' }, env).pool).toMatchObject({
      host: 'url-host',
      port: 2222,
      database: 'url-db',
      user: 'url-user',
    });
    expect(resolve({ connectionString: 'postgres://url-user@url-host:2222/url-db', host: 'opt-host', port: 3333, user: 'opt' }, env).pool).toMatchObject({
      host: 'opt-host',
      port: 3333,
      database: 'url-db',
      user: 'opt',
    });
    // What the URL leaves out still comes from the environment.
    expect(resolve({ connectionString: 'postgres:///url-db' }, env).pool).toMatchObject({ host: 'env-host', port: 1111, user: 'env-user' });
  });

  it('takes sslmode from the URL with the same rules as PGSSLMODE', () => {
    expect(messageOf(() => resolve({ connectionString: 'postgres://u@db.internal/x?sslmode=disable' }))).toMatch(/Refusing to send/);
    expect(resolve({ connectionString: 'postgres://u@localhost/x?sslmode=verify-full' }).pool.ssl).toBe(true);
    expect(resolve({ connectionString: 'postgres://u@localhost/x' }, { PGSSLMODE: 'verify-full' }).pool.ssl).toBe(true);
  });

  it('keeps IPv6 hosts and host lists as given', () => {
    expect(resolve({ connectionString: 'postgresql://u@[::1]:5433/db' }).pool).toMatchObject({ host: '::1', port: 5433 });
    expect(resolve({ connectionString: 'postgresql://u@localhost/db?host=127.0.0.2&port=6000' }).pool).toMatchObject({ host: '127.0.0.2', port: 6000 });
  });

  it('refuses a URL that carries a password, without echoing it', () => {
    for (const url of ['postgres://user:hunter2-secret@db.internal/x', 'postgres://user@db.internal/x?password=hunter2-secret']) {
      const message = messageOf(() => resolve({ connectionString: url }));
      expect(message).toMatch(/^EntraPgModule "orders": connectionString carries a password/);
      expect(message).toMatch(/secret source supplies it/);
      expect(message).not.toContain('hunter2');
    }
  });

  it.each([
    ['a comma and a slash', 'postgresql://app:Hunter2,zz/9@db.example.com/app', 'Hunter2'],
    ['digits then a slash', 'postgresql://app:4711/Secret@db.example.com/app', 'Secret'],
    ['an @ in it', 'postgresql://app:p@ss@db.example.com/app', 'ss@db'],
  ])('refuses a raw password holding %s, echoing no piece of it', (_what, url, fragment) => {
    const message = messageOf(() => resolve({ connectionString: url }));
    expect(message).toMatch(/connectionString carries a password/);
    expect(message).not.toContain(fragment);
  });

  it('refuses what is not a postgres URL, and a bad port, without echoing the URL', () => {
    expect(messageOf(() => resolve({ connectionString: 'mysql://u@h/db' }))).toMatch(/must be a postgresql:\/\/ or postgres:\/\/ URL/);
    expect(messageOf(() => resolve({ connectionString: 'postgres://u@h:99999/db' }))).toMatch(/port that is not a number from 1 to 65535/);
    expect(messageOf(() => resolve({ connectionString: '' }))).toMatch(/connectionString must be a non-empty string/);
    expect(messageOf(() => resolve({ connectionString: 'postgres://u@h/%E0%A4%A' }))).toMatch(/malformed database/);
  });
});

describe("poolSize: pg-pool's alias of max", () => {
  it('is honoured as pool.poolSize and pg.poolSize; max wins when both are set', () => {
    expect(resolve({ host: 'localhost', pool: { poolSize: 3 } }).pool.max).toBe(3);
    expect(resolve({ host: 'localhost', pg: { poolSize: 4 } }).pool.max).toBe(4);
    expect(resolve({ host: 'localhost', pool: { max: 5, poolSize: 3 } }).pool.max).toBe(5);
    // Not passed on to pg-pool, whose own `max` is computed per generation.
    expect(resolve({ host: 'localhost', pg: { poolSize: 4 } }).pool.pg).not.toHaveProperty('poolSize');
    expect(messageOf(() => resolve({ host: 'localhost', pool: { poolSize: 0 } }))).toBe(
      'EntraPgModule "orders": pool.poolSize must be a positive integer of at most 2147483647.',
    );
  });

  it("does not change the caller's options object", () => {
    const pg = { poolSize: 4 };
    resolve({ connectionString: 'postgres://u@localhost/db?options=-c%20x%3D1', pg });
    expect(pg).toEqual({ poolSize: 4 });
  });
});
