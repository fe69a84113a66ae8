import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { eq } from 'drizzle-orm';
import { Kysely, PostgresDialect } from 'kysely';
import type pg from 'pg';
import { LogCapture } from '../support/log-capture.js';
import { bootPool, newRole, sleep } from '../support/harness.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

interface Database {
  notes: { id: number; body: string };
}
const notes = pgTable('notes', { id: integer('id').primaryKey(), body: text('body').notNull() });

describe('query builders over PG_POOL across token rotations', () => {
  let db: TestPostgres;
  beforeAll(async () => {
    db = await startPostgres();
    LogCapture.install();
  });
  afterAll(() => db.stop());

  it('Kysely with PostgresDialect({ pool })', async () => {
    const authority = await newRole(db, 1_500);
    const app = await bootPool(db, { credential: authority, pool: { max: 3 } });
    const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool: app.pool }) });
    try {
      await kysely.schema.createTable('notes').ifNotExists().addColumn('id', 'integer', (c) => c.primaryKey()).addColumn('body', 'text').execute();
      for (let i = 1; i <= 4; i += 1) {
        await kysely.transaction().execute(async (tx) => {
          await tx.insertInto('notes').values({ id: i, body: `note ${i}` }).execute();
        });
        await db.terminate(authority.role); // every round needs a fresh login with the current token
        await sleep(800);
      }
      const rows = await kysely.selectFrom('notes').selectAll().orderBy('id').execute();
      expect(rows.map((r) => r.body)).toEqual(['note 1', 'note 2', 'note 3', 'note 4']);
      expect(authority.requests).toBeGreaterThanOrEqual(3);
    } finally {
      await kysely.destroy(); // Kysely ends the pool it was given: ignored, the module owns it
      await app.close();
      await authority.close();
    }
  });

  it('an ORM closing before or after the app never ends the pool for others, never hangs, never throws', async () => {
    const logs = LogCapture.install();
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 3 }, drainTimeoutMs: 500 });
    const first = new Kysely<Database>({ dialect: new PostgresDialect({ pool: app.pool }) });
    const second = new Kysely<Database>({ dialect: new PostgresDialect({ pool: app.pool }) });
    try {
      await first.selectNoFrom((eb) => eb.lit(1).as('one')).execute();
      const held = await app.pool.connect(); // another user of the pool, mid-work
      await first.destroy();
      await first.destroy();
      // Everyone else keeps the pool.
      expect((await second.selectNoFrom((eb) => eb.lit(2).as('two')).executeTakeFirst())?.two).toBe(2);
      expect((await held.query('SELECT 3 AS n')).rows[0].n).toBe(3);
      held.release();
      expect(logs.matching(/pool\.end\(\) was called while the app runs .* ignored/)).toHaveLength(1);
      await app.pool.end();
      expect((app.pool as unknown as { ignoredEnds: number }).ignoredEnds).toBe(2);
      const held2 = await app.pool.connect();
      const started = Date.now();
      await app.close();
      // The second ORM closes after the app: resolves at once, within the drain timeout.
      await second.destroy();
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(() => held2.release()).not.toThrow();
      expect(await db.backends(authority.role)).toBe(0);
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('drizzle-orm/node-postgres, including a transaction (which needs instanceof pg.Pool)', async () => {
    const authority = await newRole(db, 1_500);
    await db.adminPool.query('DROP TABLE IF EXISTS notes');
    const app = await bootPool(db, { credential: authority, pool: { max: 3 } });
    const orm = drizzle({ client: app.pool as pg.Pool });
    try {
      await orm.execute('CREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL)');
      for (let i = 1; i <= 3; i += 1) {
        await orm.transaction(async (tx) => {
          await tx.insert(notes).values({ id: i, body: `n${i}` });
        });
        await db.terminate(authority.role);
        await sleep(800);
      }
      const [row] = await orm.select().from(notes).where(eq(notes.id, 3));
      expect(row).toEqual({ id: 3, body: 'n3' });
    } finally {
      await app.close();
      await authority.close();
    }
  });
});
