import { EntraPgUnreachableError } from '../../lib/index.js';
import { LogCapture } from '../support/log-capture.js';
import { bootPool, newRole, sleep, waitFor } from '../support/harness.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { steadyLoad } from '../support/steady-load.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

describe('high availability: riding through a server restart', () => {
  let db: TestPostgres;
  let proxy: TcpProxy;
  beforeAll(async () => {
    db = await startPostgres();
    proxy = await startTcpProxy(db.host, db.port);
  });
  afterAll(async () => {
    await proxy.close();
    await db.stop();
  });
  beforeEach(() => {
    LogCapture.install();
  });

  it('server down 3 s under steady load: only queries in flight at the stop fail, every query issued during the outage succeeds after it, logins are paced', async () => {
    const authority = await newRole(db, 60_000);
    const max = 4;
    const app = await bootPool(db, {
      host: proxy.host,
      port: proxy.port,
      credential: authority,
      pool: { max, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 60_000 },
    });
    const load = steadyLoad(() => app.pool.query('SELECT pg_sleep(0.01)'), 8);
    const outcomes = load.outcomes;
    try {
      await sleep(500);
      const inFlightAtStop = load.inFlight();
      await db.halt();
      const haltedAt = Date.now();
      const loginsBefore = proxy.opened;
      const downAt = Date.now();
      await sleep(1_000);
      const during = await app.health.isHealthy('database', { timeoutMs: 300 });
      // Callers arriving in the middle of the outage, beyond the steady load.
      const burst = Array.from({ length: 6 }, () =>
        app.pool.query('SELECT 1 AS one').then(
          (r) => ({ endedAt: Date.now(), error: undefined, one: r.rows[0]?.one as number }),
          (e: unknown) => ({ endedAt: Date.now(), error: e as Error, one: 0 }),
        ),
      );
      await sleep(2_000);
      const loginsDuringOutage = proxy.opened - loginsBefore;
      const outageMs = Date.now() - downAt;
      await db.resume();
      const upAt = Date.now();
      await sleep(1_000);
      await load.stop();
      const burstResults = await Promise.all(burst);
      // A new connection got through, so readiness recovers by itself.
      await waitFor(async () => (await app.health.isHealthy()).database.status === 'up', 5_000);

      const failed = outcomes.filter((o) => o.error);
      const issuedAfterStop = outcomes.filter((o) => o.startedAt > haltedAt);
      process.stdout.write(
        `restart: ${outcomes.length} queries, ${failed.length} failed (in flight at stop: ${inFlightAtStop}), ` +
          `${issuedAfterStop.length + burstResults.length} issued after the stop (outage ${outageMs} ms), ${loginsDuringOutage} login attempts during it, ` +
          `health during: ${during.database.status}\n`,
      );
      expect(failed.length).toBeLessThanOrEqual(max);
      // Only queries already sent when the server went away may fail; they started before it was gone.
      for (const o of failed) expect(o.startedAt).toBeLessThanOrEqual(haltedAt);
      // Every query issued after the stop (the load's, and a burst in mid-outage) waited for the server and succeeded.
      for (const o of issuedAfterStop) expect(o.error).toBeUndefined();
      expect(burstResults).toHaveLength(6);
      for (const r of burstResults) {
        expect(r.error).toBeUndefined();
        expect(r.one).toBe(1);
        expect(r.endedAt).toBeGreaterThanOrEqual(upAt);
      }
      // One login per missing connection per backoff step (100 ms doubling to 2 s, at least half
      // of each step): about 7 steps in 3.5 s. Without the pacing, every refused login starts the
      // next queued caller's login at once: thousands.
      expect(loginsDuringOutage).toBeLessThanOrEqual(max * 9);
      expect(during.database.status).toBe('down');
      expect((during.database as { message?: string }).message).toMatch(/unreachable.*last error: /);
    } finally {
      await load.stop();
      await app.close();
      await authority.close();
    }
  });

  it('a caller gives up at its own connectionTimeoutMillis with the last login error, and shutdown answers riders at once', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, {
      host: proxy.host,
      port: proxy.port,
      credential: authority,
      pool: { max: 2, connectionTimeoutMillis: 1_500 },
    });
    await db.halt();
    try {
      const started = Date.now();
      const error = await app.pool.query('SELECT 1').catch((e: unknown) => e as Error);
      const waited = Date.now() - started;
      expect(error).toBeInstanceOf(EntraPgUnreachableError);
      expect((error as Error).message).toMatch(/within pool\.connectionTimeoutMillis \(1500 ms\).*Last error: /);
      // It kept trying until its deadline instead of failing at the first refusal.
      expect(waited).toBeGreaterThanOrEqual(1_400);
      const riding = app.pool.query('SELECT 1').catch((e: unknown) => e as Error);
      await sleep(200);
      await app.close();
      expect(await Promise.race([riding, sleep(1_000).then(() => 'pending')])).toBeInstanceOf(Error);
    } finally {
      await db.resume();
      await app.close();
      await authority.close();
    }
  });

  it('an idle connection found dead before anything was written to it: the query runs on a fresh connection instead of failing', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { host: proxy.host, port: proxy.port, credential: authority, pool: { max: 2 } });
    try {
      const idle = await Promise.all([app.pool.connect(), app.pool.connect()]);
      for (const client of idle) client.release();
      expect(app.pool.idleCount).toBe(2);
      const before = proxy.opened;
      // The sockets die under the idle connections, and pg has not heard of it yet (same tick).
      for (const client of idle) (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
      const { rows } = await app.pool.query<{ one: number }>('SELECT 1 AS one');
      expect(rows[0]?.one).toBe(1);
      expect(proxy.opened).toBeGreaterThan(before);
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('readiness says unreachable during an outage and recovers by itself with no traffic but the health checks', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { host: proxy.host, port: proxy.port, credential: authority, pool: { max: 2, connectionTimeoutMillis: 500 } });
    try {
      await db.halt();
      await expect(app.pool.query('SELECT 1')).rejects.toBeInstanceOf(EntraPgUnreachableError);
      const down = await app.health.isHealthy('database', { timeoutMs: 300 });
      expect(down.database.status).toBe('down');
      expect((down.database as { message?: string }).message).toMatch(/^The database is unreachable: .*last error: /);
      await db.resume();
      await waitFor(async () => (await app.health.isHealthy('database', { timeoutMs: 300 })).database.status === 'up', 10_000);
    } finally {
      await app.close();
      await authority.close();
    }
  });
});
