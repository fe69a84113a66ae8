import type { EntraPgPool, PgCredentials, PgCredentialsSource } from '../../lib/index.js';
import { LogCapture } from '../support/log-capture.js';
import { bootPool, load, sleep } from '../support/harness.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

/** A vault that rotates by creating a new role with a new password, like AWS's alternating-users scheme. */
class RotatingVault implements PgCredentialsSource {
  requests = 0;
  current: PgCredentials = { user: 'vault_a', password: 'secret-a-1' };
  async getCredentials(): Promise<PgCredentials> {
    this.requests += 1;
    return { ...this.current };
  }
}

describe('rotation to a new identity', () => {
  let db: TestPostgres;
  let logs: LogCapture;
  beforeAll(async () => {
    db = await startPostgres();
    for (const role of ['vault_a', 'vault_b']) await db.createRole(role);
    await db.adminPool.query(`ALTER ROLE vault_a PASSWORD 'secret-a-1'`);
    await db.adminPool.query(`ALTER ROLE vault_b PASSWORD 'secret-b-1'`);
  });
  afterAll(() => db.stop());
  beforeEach(() => {
    logs = LogCapture.install();
  });

  it('moves to a new pool when the vault hands out another user, with no failed query', async () => {
    const vault = new RotatingVault();
    const app = await bootPool(db, {
      credentials: vault,
      pool: { max: 4 },
      refresh: { forcedRefreshMinIntervalMs: 100, intervalMs: 300 },
    });
    try {
      const running = load(2_500, 6, () => app.pool.query('SELECT current_user AS u, pg_sleep(0.01)'));
      await sleep(500);
      // The vault rotates: a new user, and the old password is revoked for new logins.
      vault.current = { user: 'vault_b', password: 'secret-b-1' };
      await db.adminPool.query(`ALTER ROLE vault_a PASSWORD 'revoked'`);
      const stats = await running;
      expect(stats.failed).toBe(0);
      expect((await app.pool.query('SELECT current_user AS u')).rows[0].u).toBe('vault_b');
      expect(app.connection.status().rotations).toBe(1);
      expect(logs.matching(/Rotating to a new pool: the user changed from "vault_a" to "vault_b"/)).toHaveLength(1);
      await sleep(200);
      expect(await db.backends('vault_a')).toBe(0); // the old generation drained and closed
    } finally {
      await app.close();
    }
    logs.assertNoSecrets(['secret-a-1', 'secret-b-1']);
  });

  it('rotate() replaces the pool: idle connections close at once, checked-out ones on release', async () => {
    const vault = new RotatingVault();
    await db.adminPool.query(`ALTER ROLE vault_a PASSWORD 'secret-a-1'`);
    const app = await bootPool(db, { credentials: vault, pool: { max: 4 } });
    try {
      const held = await app.pool.connect();
      await app.pool.query('SELECT 1'); // a second, idle connection
      const heldPid = (await held.query('SELECT pg_backend_pid() AS p')).rows[0].p;
      await (app.pool as EntraPgPool).rotate();
      await sleep(100);
      expect(await db.backends('vault_a')).toBe(1); // only the checked-out one remains
      const inFlight = held.query('SELECT pg_sleep(0.1), 7 AS n');
      expect((await inFlight).rows[0].n).toBe(7);
      const fresh = await app.pool.query('SELECT pg_backend_pid() AS p');
      expect(fresh.rows[0].p).not.toBe(heldPid);
      held.release();
      await sleep(100);
      expect(await db.backends('vault_a')).toBe(1); // the new generation's one connection
      expect(app.connection.status().rotations).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('never exceeds pool.max across generations while the old one drains, and the old one opens no login', async () => {
    await db.adminPool.query(`ALTER ROLE vault_a PASSWORD 'secret-a-1'`);
    const vault = new RotatingVault();
    const app = await bootPool(db, { credentials: vault, pool: { max: 4 }, refresh: { intervalMs: 60_000 } });
    const logins: string[] = [];
    app.pool.on('connect', (client: { user?: string }) => logins.push(client.user ?? '?'));
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, app.pool.totalCount, (await db.backends('vault_a')) + (await db.backends('vault_b')));
        await sleep(10);
      }
    })();
    try {
      // Every slot busy on the old identity, and callers queued behind them.
      const busy = Array.from({ length: 4 }, () => app.pool.query('SELECT current_user AS u, pg_sleep(0.6)'));
      await sleep(150);
      const queuedOnOld = Array.from({ length: 4 }, () => app.pool.query('SELECT current_user AS u'));
      vault.current = { user: 'vault_b', password: 'secret-b-1' };
      await (app.pool as EntraPgPool).rotate();
      const burst = Array.from({ length: 8 }, () => app.pool.query('SELECT current_user AS u'));
      const results = await Promise.all([...busy, ...queuedOnOld, ...burst]);
      expect(results.slice(0, 4).every((r) => r.rows[0].u === 'vault_a')).toBe(true);
      expect(results.slice(8).every((r) => r.rows[0].u === 'vault_b')).toBe(true);
      sampling = false;
      await sampler;
      expect(peak).toBeLessThanOrEqual(4);
      const firstB = logins.indexOf('vault_b');
      expect(firstB).toBeGreaterThan(-1);
      expect(logins.slice(firstB).filter((user) => user === 'vault_a')).toEqual([]);
    } finally {
      sampling = false;
      await sampler;
      await app.close();
    }
  });
});
