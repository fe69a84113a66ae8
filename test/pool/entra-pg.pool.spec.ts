import pg from 'pg';
import { EntraPgCredentialError, EntraPgShutdownError } from '../../lib/index.js';
import { LogCapture } from '../support/log-capture.js';
import { LocalEntraLogin } from '../../lib/testing/index.js';
import { bootPool, load, newRole, sleep, viaFront } from '../support/harness.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

describe('EntraPgPool against a real PostgreSQL', () => {
  let db: TestPostgres;
  let logs: LogCapture;
  // Tests that rely on "a token stays valid until it expires" log in through it, as on Azure.
  let front: LocalEntraLogin;

  beforeAll(async () => {
    db = await startPostgres();
    front = await LocalEntraLogin.start({ admin: db.admin });
  });
  afterAll(async () => {
    await front.close();
    await db.stop();
  });
  beforeEach(() => {
    logs = LogCapture.install();
  });

  it('serves queries across several token lifetimes with one token request per lifetime and no failure', async () => {
    const authority = await newRole(db, 2_000, undefined, front);
    const app = await bootPool(db, { ...viaFront(front), credential: authority, pool: { max: 5 } });
    let opened = 0;
    app.pool.on('connect', () => (opened += 1));
    try {
      const stats = await load(7_000, 8, () => app.pool.query('SELECT 1'));
      expect(stats.failed).toBe(0);
      expect(stats.ok).toBeGreaterThan(100);
      // 2 s tokens refreshed at half-life over 7 s: about 7 requests, whatever the pool size.
      expect(authority.requests).toBeGreaterThanOrEqual(4);
      expect(authority.requests).toBeLessThanOrEqual(10);
      // Refreshing keeps the pool: connections were opened once, not once per token.
      expect(opened).toBeLessThanOrEqual(5);
      expect(app.connection.status().rotations).toBe(0);
      // One log line per refresh, none per query.
      const ours = logs.lines.filter((line) => line.context?.startsWith('EntraPg'));
      expect(ours.length).toBeLessThan(authority.requests + 5);
    } finally {
      await app.close();
      await authority.close();
    }
    logs.assertNoSecrets(authority.tokens);
  });

  it('makes exactly one token request for many concurrent connects on a cold pool, before any login', async () => {
    const authority = await newRole(db, 60_000);
    authority.latencyMs = 200;
    const app = await bootPool(db, { credential: authority, lazyConnect: true, pool: { max: 20 } });
    try {
      const querying = Promise.all(Array.from({ length: 100 }, () => app.pool.query('SELECT 1 AS one')));
      await sleep(100);
      // No socket is opened before the token has arrived.
      expect(app.pool.totalCount).toBe(0);
      const results = await querying;
      expect(results.every((r) => r.rows[0].one === 1)).toBe(true);
      expect(authority.requests).toBe(1);
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('keeps using a still-valid token while refresh fails, and recovers when the source returns', async () => {
    const authority = await newRole(db, 4_000, undefined, front);
    const app = await bootPool(db, {
      ...viaFront(front),
      credential: authority,
      // Connections recycle every ~0.5 s, so the outage is crossed by new logins, not only warm ones.
      pool: { max: 4, maxLifetimeSeconds: 0.5 },
      refresh: { retryBaseMs: 200, retryMaxMs: 400, forcedRefreshMinIntervalMs: 200 },
    });
    let logins = 0;
    app.pool.on('connect', () => (logins += 1));
    try {
      authority.outage = true;
      const stats = await load(3_000, 4, () => app.pool.query('SELECT 1'));
      expect(stats.failed).toBe(0);
      expect(logins).toBeGreaterThanOrEqual(8);
      const status = app.connection.status();
      expect(status.refreshFailures).toBeGreaterThan(0);
      expect(status.lastError).toMatch(/simulated outage/);
      // One warning per failure streak, not one per retry.
      expect(logs.matching(/Refreshing the Entra token from LocalTokenAuthority .* failed: CredentialUnavailableError/).length).toBe(1);
      authority.outage = false;
      await sleep(1_000);
      expect(app.connection.status().refreshFailures).toBe(0);
      expect(logs.matching(/recovered after/).length).toBe(1);
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('fails fast with a clear error when the token has expired and refresh keeps failing', async () => {
    const authority = await newRole(db, 1_500, undefined, front);
    const app = await bootPool(db, {
      ...viaFront(front),
      credential: authority,
      refresh: { retryBaseMs: 5_000, retryMaxMs: 5_000, forcedRefreshMinIntervalMs: 5_000 },
    });
    try {
      // A slow-failing identity service: each attempt fails only after 1.2 s.
      authority.latencyMs = 1_200;
      authority.outage = true;
      await app.pool.query('SELECT 1');
      await sleep(2_200); // token expired, refreshes failed
      // Idle connections were closed by the server? No: established sessions outlive the token,
      // so force new logins by dropping them.
      await db.terminate(authority.role);
      await sleep(100);
      const started = Date.now();
      const error = await app.pool.query('SELECT 1').catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(error).toBeInstanceOf(EntraPgCredentialError);
      expect((error as Error).message).toMatch(/No usable credential for PostgreSQL connection "default"/);
      expect((error as Error).message).toMatch(/LocalTokenAuthority|simulated outage/);
      expect((error as Error).message).toMatch(/expired/);
    } finally {
      await app.close();
      await authority.close();
    }
    logs.assertNoSecrets(authority.tokens);
  });

  it('retries a login rejected after revocation once, with one shared refresh, and no caller sees it', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 10 }, refresh: { forcedRefreshMinIntervalMs: 1_000 } });
    try {
      await db.terminate(authority.role);
      await sleep(100);
      await authority.revoke();
      const before = authority.requests;
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => app.pool.query('SELECT 1')));
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      expect(authority.requests - before).toBe(1);
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('survives idle connections being terminated by the server, without an unhandled error', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 4 } });
    try {
      await Promise.all(Array.from({ length: 4 }, () => app.pool.query('SELECT pg_sleep(0.05)')));
      expect(app.pool.idleCount).toBe(4);
      expect(await db.terminate(authority.role)).toBe(4);
      await sleep(200);
      expect(logs.matching(/idle connection failed/).length).toBeGreaterThan(0);
      const stats = await load(500, 4, () => app.pool.query('SELECT 1'));
      expect(stats.failed).toBe(0);
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('keeps a connection warm after an SQL error', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 1 } });
    try {
      const pid = (await app.pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      await expect(app.pool.query('SELECT * FROM no_such_table')).rejects.toBeInstanceOf(pg.DatabaseError);
      expect((await app.pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid).toBe(pid);
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('shuts down cleanly: in-flight query finishes, queued callers and new calls get a shutdown error, sockets close', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 1 }, drainTimeoutMs: 5_000 });
    const inFlight = app.pool.query('SELECT pg_sleep(0.5), 42 AS answer');
    await sleep(100);
    const queued = app.pool.query('SELECT 1').catch((e: unknown) => e);
    const closing = app.close();
    const late = await app.pool.query('SELECT 1').catch((e: unknown) => e);
    expect(late).toBeInstanceOf(EntraPgShutdownError);
    expect(await queued).toBeInstanceOf(EntraPgShutdownError);
    expect((await inFlight).rows[0].answer).toBe(42);
    await closing;
    expect(app.pool.totalCount).toBe(0);
    expect(await db.backends(authority.role)).toBe(0);
    expect(app.pool.ended).toBe(true);
    await authority.close();
  });

  it('closes connections still checked out after the drain timeout', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 2 }, drainTimeoutMs: 300 });
    const client = await app.pool.connect();
    const started = Date.now();
    await app.close();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await db.backends(authority.role)).toBe(0);
    expect(() => client.release()).not.toThrow();
    await authority.close();
  });

  it('recycles connections with jittered lifetimes', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 8, maxLifetimeSeconds: 1 } });
    try {
      const clients = await Promise.all(Array.from({ length: 8 }, () => app.pool.connect()));
      const pids = new Set(await Promise.all(clients.map(async (c) => (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p)));
      for (const c of clients) c.release();
      await sleep(1_300);
      const after = await Promise.all(Array.from({ length: 8 }, () => app.pool.query('SELECT pg_backend_pid() AS p')));
      expect(after.some((r) => pids.has(r.rows[0].p))).toBe(false);
      // Sixteen logins, one token: a new connection never asks the identity service.
      expect(authority.requests).toBe(1);
      const lifetimes = Array.from({ length: 20 }, () => (app.pool as unknown as { generations: { active: { pool: pg.Pool } } }).generations.active.pool.options.maxLifetimeSeconds);
      expect(new Set(lifetimes).size).toBeGreaterThan(1);
      expect(Math.min(...lifetimes)).toBeGreaterThanOrEqual(0.8);
      expect(Math.max(...lifetimes)).toBeLessThanOrEqual(1);
    } finally {
      await app.close();
      await authority.close();
    }
  });
});
