import pg from 'pg';
import { EntraPgConfigError, type EntraPgPassword, EntraPgShutdownError, PG_PASSWORD } from '../../lib/index.js';
import { LogCapture } from '../support/log-capture.js';
import { bootPool, newRole, sleep } from '../support/harness.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

describe('pg options and the password for code that opens its own connections', () => {
  let db: TestPostgres;
  beforeAll(async () => {
    db = await startPostgres();
  });
  afterAll(() => db.stop());
  beforeEach(() => {
    LogCapture.install();
  });

  it('passes pg options (types, statement_timeout) to every generation', async () => {
    const authority = await newRole(db, 60_000);
    const types = { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 1082 ? (value: string) => value : pg.types.getTypeParser(oid, format)) };
    const app = await bootPool(db, { credential: authority, pg: { types, statement_timeout: 300 } });
    try {
      // A date stays a string (no time-zone shift), as MikroORM's own parsers expect.
      expect((await app.pool.query("SELECT '2026-11-23'::date AS d")).rows[0].d).toBe('2026-11-23');
      await expect(app.pool.query('SELECT pg_sleep(2)')).rejects.toMatchObject({ code: '57014' });
      await (app.pool as unknown as { rotate(): Promise<void> }).rotate();
      await db.terminate(authority.role);
      await sleep(100);
      expect((await app.pool.query("SELECT '2026-11-24'::date AS d")).rows[0].d).toBe('2026-11-24');
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('refuses pg options the module sets itself, saying which', async () => {
    const authority = await newRole(db, 60_000);
    try {
      await expect(
        bootPool(db, { credential: authority, pg: { password: 'x', max: 3 } as never }),
      ).rejects.toThrow(/pg\.password, pg\.max cannot be passed through: the module sets them itself/);
      await expect(bootPool(db, { credential: authority, pg: { password: 'x' } as never })).rejects.toBeInstanceOf(EntraPgConfigError);
    } finally {
      await authority.close();
    }
  });

  it('PG_PASSWORD serves the cached token, one fetch for a burst, and tells knex when to ask again', async () => {
    const authority = await newRole(db, 1_500);
    const app = await bootPool(db, { credential: authority, lazyConnect: true });
    try {
      const password = app.module.get<EntraPgPassword>(PG_PASSWORD);
      const burst = await Promise.all(Array.from({ length: 50 }, () => password()));
      expect(new Set(burst).size).toBe(1);
      expect(authority.requests).toBe(1);
      // A connection of its own (TypeORM's pool, Sequelize) logs in with it.
      const own = new pg.Client({ host: db.host, port: db.port, database: 'postgres', user: authority.role, password });
      await own.connect();
      expect((await own.query('SELECT current_user AS u')).rows[0].u).toBe(authority.role);
      await own.end();
      const { password: knexPassword, expirationChecker } = await password.withExpiry();
      expect(knexPassword).toBe(burst[0]);
      expect(expirationChecker()).toBe(false);
      // After the scheduled refresh the checker says so, with no request of its own.
      for (let i = 0; i < 100 && !expirationChecker(); i += 1) await sleep(50);
      expect(expirationChecker()).toBe(true);
      expect(await password()).not.toBe(burst[0]);
      await app.close();
      // After shutdown nobody is handed the secret any more.
      await expect(password()).rejects.toBeInstanceOf(EntraPgShutdownError);
    } finally {
      await app.close();
      await authority.close();
    }
  });
});
