import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import type pg from 'pg';
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { type EntraPgPassword, PG_PASSWORD, PG_POOL, asPgDriver } from '../../lib/index.js';
import { bootPool, newRole, viaFront } from '../support/harness.js';
import { CHURNED_POOL, TOKEN_LIFETIME_MS, acrossThreeLifetimes, backendsLeft, serverWithLogin } from './orm-support.js';

@Entity('typeorm_notes')
class Note {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number;

  @Column({ type: 'text' })
  body!: string;
}

describe('TypeORM with @nestjs/typeorm across token rotations', () => {
  const env = serverWithLogin();
  beforeEach(async () => {
    await env.db.adminPool.query('DROP TABLE IF EXISTS typeorm_notes'); // each test's role creates its own
  });

  it('shares PG_POOL through driver: asPgDriver(pool); closing TypeORM before or after the app never ends the pool early', async () => {
    const { db, front } = env;
    const authority = await newRole(db, TOKEN_LIFETIME_MS, undefined, front);
    const typeorm = TypeOrmModule.forRootAsync({
      inject: [PG_POOL],
      useFactory: (pool: pg.Pool) => ({ type: 'postgres', driver: asPgDriver(pool), entities: [Note], synchronize: true, retryAttempts: 0 }),
    });
    const app = await bootPool(db, { ...viaFront(front), credential: authority, pool: CHURNED_POOL, drainTimeoutMs: 500 }, [typeorm]);
    const dataSource = app.module.get<DataSource>(getDataSourceToken());
    // A second user of the same pool, closed only after the app.
    const late = await new DataSource({ type: 'postgres', driver: asPgDriver(app.pool), entities: [Note] }).initialize();
    try {
      expect((dataSource.driver as unknown as { master: pg.Pool }).master).toBe(app.pool);
      const notes = dataSource.getRepository(Note);
      let n = 0;
      const stats = await acrossThreeLifetimes(async () => {
        n += 1;
        const saved = await notes.save(notes.create({ body: `note ${n}` }));
        expect((await notes.findOneByOrFail({ id: saved.id })).body).toBe(saved.body);
      });
      expect(stats.errors).toEqual([]);
      expect(stats.failed).toBe(0);
      expect(stats.ok).toBeGreaterThan(10);
      expect(authority.requests).toBeGreaterThanOrEqual(3);

      await dataSource.destroy(); // TypeORM calls pool.end(): ignored, the module owns the pool
      expect(await late.getRepository(Note).count()).toBe(stats.ok);
      expect((await app.pool.query('SELECT 1 AS one')).rows[0].one).toBe(1);

      const started = Date.now();
      await app.close();
      await late.destroy(); // after the app: resolves at once, the pool is already closed
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(await backendsLeft(db, authority.role)).toBe(0); // the login front closes its upstream a moment later
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('password route: TypeORM keeps its own pool, password: () => password() from PG_PASSWORD', async () => {
    const { db, front } = env;
    const authority = await newRole(db, TOKEN_LIFETIME_MS, undefined, front);
    const typeorm = TypeOrmModule.forRootAsync({
      inject: [PG_PASSWORD],
      useFactory: (password: EntraPgPassword) => ({
        type: 'postgres',
        ...viaFront(front),
        database: 'postgres',
        username: authority.role,
        password: () => password(),
        entities: [Note],
        synchronize: true,
        retryAttempts: 0,
        extra: { max: 3, maxLifetimeSeconds: 1 },
      }),
    });
    const app = await bootPool(db, { ...viaFront(front), credential: authority, pool: CHURNED_POOL }, [typeorm]);
    const dataSource = app.module.get<DataSource>(getDataSourceToken());
    try {
      expect((dataSource.driver as unknown as { master: pg.Pool }).master).not.toBe(app.pool);
      const notes = dataSource.getRepository(Note);
      const stats = await acrossThreeLifetimes(async () => {
        await notes.save(notes.create({ body: 'x' }));
        await notes.count();
      });
      expect(stats.errors).toEqual([]);
      expect(stats.failed).toBe(0);
      expect(authority.requests).toBeGreaterThanOrEqual(3);
      await app.close(); // @nestjs/typeorm destroys the DataSource, which ends its own pool
      expect(dataSource.isInitialized).toBe(false);
      expect(await backendsLeft(db, authority.role)).toBe(0);
    } finally {
      await app.close();
      await authority.close();
    }
  });
});
