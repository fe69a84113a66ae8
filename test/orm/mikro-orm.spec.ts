import { MikroOrmModule } from '@mikro-orm/nestjs';
import { EntitySchema, MikroORM, PostgreSqlDriver, createPostgreSqlTypeParsers } from '@mikro-orm/postgresql';
import { PostgresDialect } from 'kysely';
import pg from 'pg';
import { PG_POOL } from '../../lib/index.js';
import { bootPool, newRole, viaFront } from '../support/harness.js';
import { CHURNED_POOL, TOKEN_LIFETIME_MS, acrossThreeLifetimes, backendsLeft, serverWithLogin } from './orm-support.js';

interface Note {
  id: number;
  day: string;
  body: string;
}
const NoteSchema = new EntitySchema<Note>({
  name: 'Note',
  tableName: 'mikro_notes',
  properties: { id: { type: 'number', primary: true }, day: { type: 'date' }, body: { type: 'text' } },
});

/** MikroORM's own type parsers (dates and intervals as strings), for the module's pool. */
function mikroOrmTypes(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides();
  const textArray = pg.types.getTypeParser(1009 as (typeof pg.types.builtins)[keyof typeof pg.types.builtins]); // text[]: arrays of dates stay arrays of strings
  for (const [oid, parse] of Object.entries(createPostgreSqlTypeParsers(textArray))) {
    types.setTypeParser(Number(oid), parse);
  }
  return types;
}

describe('MikroORM 7 with @mikro-orm/nestjs over PG_POOL (PostgresDialect)', () => {
  const env = serverWithLogin();

  it('keeps its type parsers and serves queries across three token lifetimes; closing before or after the app never ends the pool early', async () => {
    const { db, front } = env;
    const authority = await newRole(db, TOKEN_LIFETIME_MS, undefined, front);
    const mikro = MikroOrmModule.forRootAsync({
      driver: PostgreSqlDriver,
      inject: [PG_POOL],
      useFactory: (pool: pg.Pool) => ({
        driver: PostgreSqlDriver,
        dbName: 'postgres',
        entities: [NoteSchema],
        driverOptions: new PostgresDialect({ pool }),
      }),
    });
    const app = await bootPool(
      db,
      { ...viaFront(front), credential: authority, pool: CHURNED_POOL, drainTimeoutMs: 500, pg: { types: mikroOrmTypes() } },
      [mikro],
    );
    const orm = app.module.get(MikroORM);
    // A second ORM over the same pool, closed only after the app.
    const late = await MikroORM.init({ dbName: 'postgres', entities: [NoteSchema], driverOptions: new PostgresDialect({ pool: app.pool }) });
    try {
      await app.pool.query('CREATE TABLE mikro_notes (id serial PRIMARY KEY, day date NOT NULL, body text NOT NULL)');
      let n = 0;
      const stats = await acrossThreeLifetimes(async () => {
        n += 1;
        const em = orm.em.fork();
        const note = em.create(NoteSchema, { day: '2024-03-01', body: `note ${n}` });
        await em.flush();
        const found = await orm.em.fork().findOneOrFail(NoteSchema, note.id);
        expect(found.day).toBe('2024-03-01'); // a date column stays the string MikroORM expects
      });
      expect(stats.errors).toEqual([]);
      expect(stats.failed).toBe(0);
      expect(authority.requests).toBeGreaterThanOrEqual(3);

      await orm.close(); // MikroORM destroys its Kysely, which calls pool.end(): ignored
      expect(await late.em.fork().count(NoteSchema)).toBe(stats.ok);
      const started = Date.now();
      await app.close(); // @mikro-orm/nestjs closes the ORM again: resolves
      await late.close(); // after the app: resolves at once
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(await backendsLeft(db, authority.role)).toBe(0); // the login front closes its upstream a moment later
    } finally {
      await app.close();
      await authority.close();
    }
  });
});
