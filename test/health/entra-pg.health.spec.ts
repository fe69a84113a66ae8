import { Test } from '@nestjs/testing';
import { TerminusModule } from '@nestjs/terminus';
import { EntraPgHealthIndicator, EntraPgModule, getPgPoolToken } from '../../lib/index.js';
import { LogCapture } from '../support/log-capture.js';
import { bootPool, newRole, sleep } from '../support/harness.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

describe('EntraPgHealthIndicator', () => {
  let db: TestPostgres;
  beforeAll(async () => {
    db = await startPostgres();
  });
  afterAll(() => db.stop());

  async function boot(lifetimeMs: number, extra: { max?: number } = {}) {
    const logs = LogCapture.install();
    const authority = await newRole(db, lifetimeMs);
    const app = await bootPool(db, {
      credential: authority,
      pool: { max: extra.max ?? 4 },
      refresh: { retryBaseMs: 200, retryMaxMs: 400, forcedRefreshMinIntervalMs: 200 },
    });
    return {
      authority,
      logs,
      indicator: app.health,
      pool: app.pool,
      close: async () => {
        await app.close();
        await authority.close();
      },
    };
  }

  it('is up with token, refresh and pool details, and no secret', async () => {
    const t = await boot(60_000);
    try {
      const result = await t.indicator.isHealthy();
      expect(result.database).toEqual({
        status: 'up',
        source: 'Entra token',
        tokenExpiresInSeconds: expect.any(Number),
        tokenRefreshedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        nextRefreshInSeconds: expect.any(Number),
        refreshFailures: 0,
        lastError: null,
        user: t.authority.role,
        pool: { total: 1, idle: 1, waiting: 0, max: 4 },
        rotations: 0,
      });
      expect(result.database.tokenExpiresInSeconds).toBeGreaterThan(55);
      expect(result.database.nextRefreshInSeconds).toBeLessThan(result.database.tokenExpiresInSeconds!);
      expect(JSON.stringify(result)).not.toContain(t.authority.tokens[0]);
    } finally {
      await t.close();
    }
  });

  it('stays up while refresh fails with a valid token, goes down once it has expired, and recovers', async () => {
    const t = await boot(2_000);
    try {
      t.authority.outage = true;
      const until = async (done: (r: Awaited<ReturnType<typeof t.indicator.isHealthy<'db'>>>) => boolean) => {
        for (let i = 0; i < 40; i += 1) {
          const result = await t.indicator.isHealthy('db');
          if (done(result)) return result;
          await sleep(50);
        }
        throw new Error('condition not reached in 2 s');
      };
      // The half-life refresh has failed; the token is still valid.
      const failing = await until((r) => r.db.refreshFailures > 0);
      expect(failing.db.status).toBe('up');
      expect(failing.db.tokenExpiresInSeconds).toBeGreaterThanOrEqual(0);
      expect(failing.db.lastError).toMatch(/CredentialUnavailableError: .*simulated outage/);
      const down = await until((r) => r.db.status === 'down');
      expect(down.db.message).toMatch(/The Entra token expired and refreshing it has failed \d+ time\(s\): CredentialUnavailableError/);
      expect(down.db.tokenExpiresInSeconds).toBe(0);
      t.authority.outage = false;
      let status = 'down';
      for (let i = 0; i < 30 && status !== 'up'; i += 1) {
        await sleep(100);
        status = (await t.indicator.isHealthy('db')).db.status;
      }
      expect(status).toBe('up');
      t.logs.assertNoSecrets(t.authority.tokens);
    } finally {
      await t.close();
    }
  });

  it('reports a ping that times out as down without keeping a pool slot', async () => {
    const t = await boot(60_000, { max: 1 });
    try {
      const held = await t.pool.connect(); // the only slot is busy
      const started = Date.now();
      const result = await t.indicator.isHealthy('database', { timeoutMs: 200 });
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(result.database.status).toBe('down');
      expect(result.database.message).toMatch(/SELECT 1 did not answer within 200 ms/);
      expect(result.database.pool.waiting).toBe(1);
      // Fifty more probes while the slot is still held: they share the one queued ping.
      const probes = await Promise.all(Array.from({ length: 50 }, () => t.indicator.isHealthy('database', { timeoutMs: 100 })));
      expect(probes.every((p) => p.database.status === 'down')).toBe(true);
      expect(t.pool.waitingCount).toBeLessThanOrEqual(1);
      held.release();
      await sleep(50);
      // The late client went straight back: the slot is free and the pool serves.
      expect(t.pool.waitingCount).toBe(0);
      expect(t.pool.idleCount).toBe(1);
      expect((await t.pool.query('SELECT 1 AS n')).rows[0].n).toBe(1);
      expect((await t.indicator.isHealthy()).database.status).toBe('up');
    } finally {
      await t.close();
    }
  });

  it('checks a named connection, and says clearly when there is none', async () => {
    const a = await newRole(db, 60_000);
    const module = await Test.createTestingModule({
      imports: [
        TerminusModule,
        EntraPgModule.forRoot({ host: db.host, port: db.port, credential: a, retryAttempts: 0, name: 'reports' }),
      ],
    })
      .setLogger(LogCapture.install())
      .compile();
    await module.init();
    try {
      const indicator = module.get(EntraPgHealthIndicator);
      const result = await indicator.isHealthy('reports-db', { connection: 'reports' });
      expect(result['reports-db'].status).toBe('up');
      expect(module.get(getPgPoolToken('reports'))).toBeDefined();
      // Down (503 through Terminus), never a thrown plain error (500).
      // Odd options are read as defaults, never a 500 or a 1 ms deadline.
      expect((await indicator.isHealthy('reports-db', { connection: 'reports', timeoutMs: Number.NaN }))['reports-db'].status).toBe('up');
      expect((await indicator.isHealthy('database', null)).database.status).toBe('down'); // no default connection here
      const missing = await indicator.isHealthy('x', { connection: 'nope' });
      expect(missing.x).toMatchObject({ status: 'down', message: 'No EntraPgModule connection named "nope" is registered.', user: null });
    } finally {
      await module.close();
      await a.close();
    }
  });
});
