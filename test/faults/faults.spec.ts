import type pg from 'pg';
import { LocalEntraLogin, type LocalTokenAuthority } from '../../lib/testing/index.js';
import { LogCapture } from '../support/log-capture.js';
import { bootPool, newRole, sleep, viaFront } from '../support/harness.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

/** Steady concurrent load that records every failure and the slowest query. */
class SteadyLoad {
  ok = 0;
  failures: Array<{ at: number; message: string }> = [];
  slowestMs = 0;
  private running = true;
  private readonly workers: Promise<void>[];

  constructor(pool: pg.Pool, concurrency: number, sql = 'SELECT 1') {
    this.workers = Array.from({ length: concurrency }, async () => {
      // Bounded by stop(); each iteration waits a little so the loop never spins.
      while (this.running) {
        const started = performance.now();
        try {
          await pool.query(sql);
          this.ok += 1;
          this.slowestMs = Math.max(this.slowestMs, performance.now() - started);
        } catch (error) {
          this.failures.push({ at: Date.now(), message: (error as Error).message });
        }
        await sleep(5);
      }
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }
}

describe('fault suite (loopback only, bounded)', () => {
  let db: TestPostgres;
  // Where a token must stay valid until it expires, as on Azure, logins go through this front.
  let front: LocalEntraLogin;
  beforeAll(async () => {
    db = await startPostgres();
    front = await LocalEntraLogin.start({ admin: db.admin });
  });
  afterAll(async () => {
    await front.close();
    await db.stop();
  });

  /** Boots with quick refresh retries and every pool slot already logged in. */
  async function boot(
    authority: LocalTokenAuthority,
    pool: { max?: number; idleTimeoutMillis?: number; maxLifetimeSeconds?: number } = {},
    through?: LocalEntraLogin,
  ) {
    const logs = LogCapture.install();
    const app = await bootPool(db, {
      ...(through ? viaFront(through) : {}),
      credential: authority,
      pool: { max: 6, ...pool },
      refresh: { retryBaseMs: 200, retryMaxMs: 500, forcedRefreshMinIntervalMs: 200 },
    });
    await Promise.all(Array.from({ length: pool.max ?? 6 }, () => app.pool.query('SELECT pg_sleep(0.05)')));
    return { ...app, logs };
  }

  it('identity endpoint down for longer than a token lifetime: warm connections keep serving, health shows the streak, recovery is automatic', async () => {
    const authority = await newRole(db, 2_000, undefined, front);
    const app = await boot(authority, {}, front);
    const load = new SteadyLoad(app.pool, 6);
    try {
      authority.outage = true;
      await sleep(3_500); // the token expired 1.5 s ago at the latest
      const during = await app.health.isHealthy();
      expect(during.database.refreshFailures).toBeGreaterThan(0);
      expect(during.database.lastError).toMatch(/simulated outage/);
      authority.outage = false;
      let recovered = false;
      for (let i = 0; i < 40 && !recovered; i += 1) {
        await sleep(100);
        recovered = (await app.health.isHealthy()).database.refreshFailures === 0;
      }
      expect(recovered).toBe(true);
      await load.stop();
      expect(load.failures).toEqual([]);
      expect(load.ok).toBeGreaterThan(200);
    } finally {
      await load.stop();
      await app.close();
      await authority.close();
    }
    app.logs.assertNoSecrets(authority.tokens);
  });

  it('identity endpoint answering in 2 s: no query waits for it while the token is valid', async () => {
    const authority = await newRole(db, 6_000, undefined, front);
    const app = await boot(authority, { idleTimeoutMillis: 300 }, front); // connections churn, so logins keep happening
    authority.latencyMs = 2_000;
    const load = new SteadyLoad(app.pool, 8);
    try {
      await sleep(7_000); // crosses at least one refresh, which takes 2 s
      await load.stop();
      expect(load.failures).toEqual([]);
      expect(authority.requests).toBeGreaterThanOrEqual(2);
      expect(load.slowestMs).toBeLessThan(1_000);
    } finally {
      await load.stop();
      await app.close();
      await authority.close();
    }
    app.logs.assertNoSecrets(authority.tokens);
  });

  it('PostgreSQL restarted: no crash, only in-flight queries fail, each with a clear error, and the pool serves within 2 s of the server being back', async () => {
    const authority = await newRole(db, 60_000);
    const app = await boot(authority);
    const load = new SteadyLoad(app.pool, 6, 'SELECT pg_sleep(0.02)');
    try {
      await sleep(300);
      const downAt = Date.now();
      await db.restart();
      const backAt = Date.now();
      let servedAt = 0;
      for (let i = 0; i < 40 && !servedAt; i += 1) {
        try {
          await app.pool.query('SELECT 1');
          servedAt = Date.now();
        } catch {
          await sleep(50);
        }
      }
      expect(servedAt).toBeGreaterThan(0);
      expect(servedAt - backAt).toBeLessThan(2_000);
      await sleep(500);
      await load.stop();
      // Failures happened only while the server was going down or starting up, and say why.
      for (const failure of load.failures) {
        expect(failure.at).toBeGreaterThanOrEqual(downAt);
        expect(failure.at).toBeLessThanOrEqual(servedAt + 100);
        expect(failure.message).toMatch(/terminat|shut|ECONNREFUSED|ECONNRESET|starting up|Connection/i);
      }
      const late = new SteadyLoad(app.pool, 4);
      await sleep(500);
      await late.stop();
      expect(late.failures).toEqual([]);
    } finally {
      await load.stop();
      await app.close();
      await authority.close();
    }
    app.logs.assertNoSecrets(authority.tokens);
  });

  it('all backends terminated: the pool recovers with no unhandled error', async () => {
    const authority = await newRole(db, 60_000);
    const app = await boot(authority);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      expect(await db.terminate(authority.role)).toBe(6);
      await sleep(200);
      const load = new SteadyLoad(app.pool, 6);
      await sleep(1_000);
      await load.stop();
      expect(load.failures).toEqual([]);
      expect(unhandled).toEqual([]);
      expect(app.logs.matching(/idle connection failed and was removed/).length).toBeGreaterThanOrEqual(1);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await app.close();
      await authority.close();
    }
    app.logs.assertNoSecrets(authority.tokens);
  });

  it('password changed behind the app and the current token revoked: no failed query (one forced refresh, one retry)', async () => {
    const authority = await newRole(db, 60_000);
    // Connections recycle after about a second, so new logins keep happening under the load.
    const app = await boot(authority, { maxLifetimeSeconds: 1 });
    const load = new SteadyLoad(app.pool, 6);
    try {
      await sleep(300);
      const before = authority.requests;
      await authority.revoke(); // the role's password is no longer the token we hold
      await sleep(2_000);
      await load.stop();
      expect(load.failures).toEqual([]);
      expect(authority.requests - before).toBe(1);
      expect(app.logs.matching(/Login rejected with the current Entra token; fetching a new one/)).toHaveLength(1);
    } finally {
      await load.stop();
      await app.close();
      await authority.close();
    }
    app.logs.assertNoSecrets(authority.tokens);
  });
});
