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
      await kysely.destroy(); // Kysely ends the pool it was given
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
