import { DataTypes, Sequelize } from 'sequelize';
import { type EntraPgPassword, PG_PASSWORD } from '../../lib/index.js';
import { bootPool, newRole, viaFront } from '../support/harness.js';
import { CHURNED_POOL, TOKEN_LIFETIME_MS, acrossThreeLifetimes, backendsLeft, serverWithLogin } from './orm-support.js';

describe('Sequelize with a beforeConnect hook reading PG_PASSWORD', () => {
  const env = serverWithLogin();

  it('logs in with the current token across three token lifetimes; closing before or after the app never throws', async () => {
    const { db, front } = env;
    const authority = await newRole(db, TOKEN_LIFETIME_MS, undefined, front);
    const app = await bootPool(db, { ...viaFront(front), credential: authority, pool: CHURNED_POOL });
    const password = app.module.get<EntraPgPassword>(PG_PASSWORD);
    // Sequelize takes no external pool: it opens its own connections, each with the current token.
    const connect = () =>
      new Sequelize({
        dialect: 'postgres',
        ...viaFront(front),
        database: 'postgres',
        username: authority.role,
        logging: false,
        pool: { max: 3, maxUses: 10 }, // each connection serves 10 queries, then a new login
        hooks: {
          beforeConnect: async (config) => {
            config.password = await password();
          },
        },
      });
    const sequelize = connect();
    const late = connect();
    const Note = sequelize.define('Note', { body: { type: DataTypes.TEXT, allowNull: false } }, { tableName: 'sequelize_notes' });
    try {
      await Note.sync();
      const stats = await acrossThreeLifetimes(async () => {
        const note = await Note.create({ body: 'x' });
        expect((await Note.findByPk(note.get('id') as number))?.get('body')).toBe('x');
      });
      expect(stats.errors).toEqual([]);
      expect(stats.failed).toBe(0);
      expect(await Note.count()).toBe(stats.ok);
      expect(authority.requests).toBeGreaterThanOrEqual(3);

      await late.query('SELECT 1'); // the second instance holds a connection when the app closes
      await sequelize.close(); // before the app: ends only Sequelize's own connections
      expect((await app.pool.query('SELECT 1 AS one')).rows[0].one).toBe(1);
      await app.close();
      await late.close(); // after the app: never needs a password to close
      expect(await backendsLeft(db, authority.role)).toBe(0);
    } finally {
      await app.close();
      await authority.close();
    }
  });
});
