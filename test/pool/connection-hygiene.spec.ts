import pg from 'pg';
import { LogCapture } from '../support/log-capture.js';
import { bootPool, newRole, sleep, waitFor } from '../support/harness.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

/**
 * Whether the session that runs this query was already inside a transaction: in the first (or only)
 * statement of a transaction the two timestamps are equal. In a failed transaction it fails (25P02).
 */
const IN_TRANSACTION = 'SELECT now() <> statement_timestamp() AS open, pg_backend_pid() AS pid';

async function sessionState(client: pg.PoolClient | pg.Pool): Promise<{ open: boolean; pid: number }> {
  const { rows } = await client.query<{ open: boolean; pid: number }>(IN_TRANSACTION);
  return rows[0]!;
}

describe('connection hygiene: PG_POOL hands out only connections the server says are idle', () => {
  let db: TestPostgres;
  beforeAll(async () => {
    db = await startPostgres();
  });
  afterAll(() => db.stop());
  let logs: LogCapture;
  beforeEach(() => {
    logs = LogCapture.install();
  });

  it('after BEGIN; SELECT 1/0 through pool.query, 100 SELECT 1 all succeed (no 25P02)', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 2 } });
    try {
      await expect(app.pool.query('BEGIN; SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
      let failed = 0;
      for (let i = 0; i < 100; i += 1) await app.pool.query('SELECT 1').catch(() => (failed += 1));
      expect(failed).toBe(0);
      // Also in a burst: every connection the pool holds is clean.
      await expect(app.pool.query('BEGIN; SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
      const burst = await Promise.allSettled(Array.from({ length: 50 }, () => app.pool.query('SELECT 1')));
      expect(burst.filter((r) => r.status === 'rejected')).toEqual([]);
    } finally {
      await app.close();
    }
  });

  it('keeps the connection after a harmless SQL error outside a transaction (no new login)', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 1 } });
    try {
      const before = await sessionState(app.pool);
      await expect(app.pool.query('SELECT * FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });
      await expect(app.pool.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
      const after = await sessionState(app.pool);
      expect(after).toEqual({ open: false, pid: before.pid });
    } finally {
      await app.close();
    }
  });

  it.each([
    ['an open transaction', 'BEGIN'],
    ['a failed transaction', 'BEGIN; SELECT 1/0'],
  ])('a client released inside %s is closed, never handed out as it is; said once per pool', async (_what, sql) => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 1 } });
    try {
      for (let round = 0; round < 3; round += 1) {
        const client = await app.pool.connect();
        const { pid } = await sessionState(client);
        await client.query(sql).catch(() => undefined);
        client.release();
        const next = await app.pool.connect();
        try {
          const state = await sessionState(next);
          expect(state.open).toBe(false);
          expect(state.pid).not.toBe(pid);
        } finally {
          next.release();
        }
      }
      const warnings = logs.matching(/released inside/);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.context).toBe('EntraPg:default');
      expect(warnings[0]!.printed).not.toContain('SELECT');
    } finally {
      await app.close();
    }
  });

  it('pool.query("BEGIN") does not leave the next query inside that transaction', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 1 } });
    try {
      await app.pool.query('BEGIN');
      expect((await sessionState(app.pool)).open).toBe(false);
    } finally {
      await app.close();
    }
  });

  it('a client released from a callback before the server answered (status unknown) is not reused in an aborted transaction', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 1 } });
    try {
      const client = await app.pool.connect();
      await client.query('BEGIN');
      // The error callback runs before the server's ReadyForQuery: released right there.
      await new Promise<void>((resolve) =>
        client.query('SELECT 1/0', () => {
          client.release();
          resolve();
        }),
      );
      const { rows } = await app.pool.query<{ n: number }>('SELECT 1 AS n');
      expect(rows[0]!.n).toBe(1);
    } finally {
      await app.close();
    }
  });

  it.each([
    ['SET LOCAL default_transaction_read_only = on inside a transaction', ['BEGIN', 'SET LOCAL default_transaction_read_only = on', 'SELECT 1 AS n', 'COMMIT']],
    ['SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY', ['SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY', 'SELECT 1 AS n']],
  ])('a session that makes itself read-only (%s) keeps working until it is released', async (_what, statements) => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 1 } });
    try {
      const client = await app.pool.connect();
      const { pid } = await sessionState(client);
      try {
        for (const sql of statements) await client.query(sql);
      } finally {
        client.release();
      }
      // It heard read-only: not handed out again (its session settings are not the pool's).
      expect((await sessionState(app.pool)).pid).not.toBe(pid);
    } finally {
      await app.close();
    }
  });

  describe('a server that stops taking writes', () => {
    /** Sets the server-wide default and waits until the admin sessions (all three of them) run with it. */
    async function setServerReadOnly(on: boolean): Promise<void> {
      await db.adminPool.query(on ? 'ALTER SYSTEM SET default_transaction_read_only = on' : 'ALTER SYSTEM RESET default_transaction_read_only');
      await db.adminPool.query('SELECT pg_reload_conf()');
      // Backends apply a reload before their next command, once the postmaster has signalled them.
      const expected = on ? 'on' : 'off';
      await waitFor(async () => {
        const seen = await Promise.all([1, 2, 3].map(() => db.adminPool.query<{ v: string }>('SELECT current_setting($1) AS v', ['default_transaction_read_only'])));
        return seen.every(({ rows }) => rows[0]!.v === expected);
      }, 5_000);
      await sleep(100);
    }
    const turnReadOnly = () => setServerReadOnly(true);
    afterEach(() => setServerReadOnly(false));

    it('a 25006 on a connection writable at login retires the generation once, with one log line; the failing connection is not kept', async () => {
      const authority = await newRole(db, 60_000);
      const app = await bootPool(db, { credential: authority, pool: { max: 4 } });
      const table = `hygiene_${process.pid}_a`;
      await db.adminPool.query(`CREATE TABLE ${table} (n int)`);
      await db.adminPool.query(`GRANT ALL ON ${table} TO ${pg.escapeIdentifier(authority.role)}`);
      try {
        await Promise.all(Array.from({ length: 4 }, () => app.pool.query(`INSERT INTO ${table} VALUES (1)`)));
        const rotations = (app.pool as unknown as { rotations: number }).rotations;
        await turnReadOnly();
        const writes = await Promise.allSettled(Array.from({ length: 8 }, () => app.pool.query(`INSERT INTO ${table} VALUES (2)`)));
        const failed = writes.filter((w) => w.status === 'rejected');
        expect(failed.length).toBeGreaterThan(0);
        for (const f of failed) expect((f as PromiseRejectedResult).reason).toMatchObject({ code: '25006' });
        expect((app.pool as unknown as { rotations: number }).rotations).toBe(rotations + 1);
        expect(logs.matching(/25006/)).toHaveLength(1);
        // The new generation logs in to a server that is read-only at login: a 25006 now is the
        // app writing to a read-only server, which no rotation would fix.
        await expect(app.pool.query(`INSERT INTO ${table} VALUES (3)`)).rejects.toMatchObject({ code: '25006' });
        expect((app.pool as unknown as { rotations: number }).rotations).toBe(rotations + 1);
        await waitFor(async () => (await db.backends(authority.role)) <= 4);
      } finally {
        await app.close();
        await db.adminPool.query(`BEGIN READ WRITE; DROP TABLE ${table}; COMMIT`);
      }
    });

    it('a transaction made read-only by the app that writes, again and again, never rebuilds the pool (the server did not change)', async () => {
      const authority = await newRole(db, 60_000);
      const app = await bootPool(db, { credential: authority, pool: { max: 2 } });
      const rotations = () => (app.pool as unknown as { rotations: number }).rotations;
      try {
        for (let i = 0; i < 10; i += 1) {
          await expect(app.pool.query('BEGIN READ ONLY; CREATE TABLE hygiene_never (n int)')).rejects.toMatchObject({
            code: '25006',
          });
        }
        expect(rotations()).toBe(0);
      } finally {
        await app.close();
      }
    });

    it('a connection that hears its server turn read-only (ParameterStatus) is closed on release, before a write fails on it', async () => {
      const authority = await newRole(db, 60_000);
      const app = await bootPool(db, { credential: authority, pool: { max: 1 } });
      try {
        const { pid } = await sessionState(app.pool);
        await turnReadOnly();
        // A read: it succeeds, and the server reports default_transaction_read_only = on with it.
        expect((await sessionState(app.pool)).pid).toBe(pid);
        expect(logs.matching(/turned read-only \(default_transaction_read_only is on\)/)).toHaveLength(1);
        // That connection was not kept.
        expect((await sessionState(app.pool)).pid).not.toBe(pid);
      } finally {
        await app.close();
      }
    });
  });
});
