import knex from 'knex';
import { type EntraPgPassword, PG_PASSWORD } from '../../lib/index.js';
import { bootPool, newRole, viaFront } from '../support/harness.js';
import { CHURNED_POOL, TOKEN_LIFETIME_MS, acrossThreeLifetimes, backendsLeft, serverWithLogin } from './orm-support.js';

describe('knex (the MikroORM 6 driver) with password.withExpiry()', () => {
  const env = serverWithLogin();

  it('asks for a new password once the token is replaced, across three token lifetimes; closing before or after the app never throws', async () => {
    const { db, front } = env;
    const authority = await newRole(db, TOKEN_LIFETIME_MS, undefined, front);
    const app = await bootPool(db, { ...viaFront(front), credential: authority, pool: CHURNED_POOL });
    const password = app.module.get<EntraPgPassword>(PG_PASSWORD);
    const base = { ...viaFront(front), database: 'postgres', user: authority.role };
    let asked = 0;
    // knex caches a connection function's answer until its expirationChecker() returns true.
    const connect = () =>
      knex({
        client: 'pg',
        connection: async () => {
          asked += 1;
          return { ...base, ...(await password.withExpiry()) };
        },
        pool: { min: 0, max: 3, maxConnectionLifetimeMillis: 1_000 }, // connections churn every second
      });
    const db1 = connect();
    const late = connect();
    try {
      await db1.schema.createTable('knex_notes', (t) => {
        t.increments('id');
        t.text('body').notNullable();
      });
      const stats = await acrossThreeLifetimes(async () => {
        const [row] = await db1('knex_notes').insert({ body: 'x' }).returning('id');
        expect((await db1('knex_notes').where({ id: row.id }).first())?.body).toBe('x');
      });
      expect(stats.errors).toEqual([]);
      expect(stats.failed).toBe(0);
      expect(authority.requests).toBeGreaterThanOrEqual(3);
      // Asked again about once per token, not once per connection and not only once.
      expect(asked).toBeGreaterThanOrEqual(3);

      await late.raw('SELECT 1');
      await db1.destroy(); // before the app: ends only knex's own connections
      expect((await app.pool.query('SELECT 1 AS one')).rows[0].one).toBe(1);
      await app.close();
      await late.destroy(); // after the app
      expect(await backendsLeft(db, authority.role)).toBe(0);
    } finally {
      await app.close();
      await authority.close();
    }
  });
});
