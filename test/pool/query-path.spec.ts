import Cursor from 'pg-cursor';
import QueryStream from 'pg-query-stream';
import pg from 'pg';
import { EntraPgShutdownError } from '../../lib/index.js';
import { LogCapture } from '../support/log-capture.js';
import { bootPool, newRole, sleep } from '../support/harness.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

/** Fails the test on any uncaught exception or unhandled rejection while `run` is under way. */
async function noUncaught<T>(run: () => Promise<T>): Promise<T> {
  const seen: unknown[] = [];
  const record = (error: unknown) => seen.push(error);
  process.on('uncaughtException', record);
  process.on('unhandledRejection', record);
  try {
    const result = await run();
    await sleep(50);
    expect(seen).toEqual([]);
    return result;
  } finally {
    process.off('uncaughtException', record);
    process.off('unhandledRejection', record);
  }
}

describe('EntraPgPool query path', () => {
  let db: TestPostgres;
  beforeAll(async () => {
    db = await startPostgres();
  });
  afterAll(() => db.stop());
  beforeEach(() => {
    LogCapture.install();
  });

  it('rejects pool.query(null | undefined | 42) like pg.Pool, with no uncaught exception, and frees the only slot', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 1 } });
    const raw = new pg.Pool({ ...db.admin, max: 1 });
    try {
      await noUncaught(async () => {
        for (const bad of [null, undefined, 42]) {
          const ours = await (app.pool.query as (q: unknown) => Promise<unknown>)(bad).then(
            () => 'resolved',
            (e: unknown) => e,
          );
          const theirs = await (raw.query as (q: unknown) => Promise<unknown>)(bad).then(
            () => 'resolved',
            (e: unknown) => e,
          );
          expect(ours).toBeInstanceOf(Error);
          expect((ours as Error).constructor).toBe((theirs as Error).constructor);
          // With one slot, the next query is served only if the client went back.
          expect((await app.pool.query('SELECT 1 AS n')).rows[0].n).toBe(1);
        }
        // A burst of bad queries in one tick, callback style, settles every callback.
        const settled = await Promise.all(
          Array.from(
            { length: 5 },
            () =>
              new Promise<Error | undefined>((resolve) =>
                (app.pool.query as (q: unknown, cb: (e: Error | undefined) => void) => void)(null, (e) => resolve(e)),
              ),
          ),
        );
        expect(settled.every((e) => e instanceof Error)).toBe(true);
      });
      expect(app.pool.totalCount).toBeLessThanOrEqual(1);
    } finally {
      await raw.end();
      await app.close();
      await authority.close();
    }
  });

  it('streams through PG_POOL: pg-query-stream and pg-cursor get a client of their own and give it back', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 1 } });
    try {
      await noUncaught(async () => {
        const stream = app.pool.query(new QueryStream('SELECT generate_series(1, 500) AS n', [], { batchSize: 50 }));
        let sum = 0;
        for await (const row of stream) sum += (row as { n: number }).n;
        expect(sum).toBe((500 * 501) / 2);
        expect((await app.pool.query('SELECT 1 AS n')).rows[0].n).toBe(1);

        const cursor = app.pool.query(new Cursor('SELECT generate_series(1, 10) AS n'));
        const rows = await cursor.read(4);
        expect(rows.map((r: { n: number }) => r.n)).toEqual([1, 2, 3, 4]);
        await cursor.close();
        expect((await app.pool.query('SELECT 2 AS n')).rows[0].n).toBe(2);

        // A stream abandoned half way does not keep the only slot.
        const early = app.pool.query(new QueryStream('SELECT generate_series(1, 100000) AS n', [], { batchSize: 10 }));
        for await (const row of early) {
          if ((row as { n: number }).n === 3) break;
        }
        expect((await app.pool.query('SELECT 3 AS n')).rows[0].n).toBe(3);

        // A Submittable that emits no events could never give its client back: refused at once.
        expect(() => app.pool.query({ submit: () => undefined } as unknown as pg.Submittable)).toThrow(/emit end and error/);
        // A plain pg.Query as a Submittable.
        const query = app.pool.query(new pg.Query('SELECT 4 AS n'));
        await new Promise((resolve, reject) => query.once('end', resolve).once('error', reject));
        expect((await app.pool.query('SELECT 5 AS n')).rows[0].n).toBe(5);

        // A failing stream releases its client too.
        const failing = app.pool.query(new QueryStream('SELECT * FROM no_such_table'));
        await expect(
          (async () => {
            for await (const row of failing) void row;
          })(),
        ).rejects.toThrow(/no_such_table/);
        expect((await app.pool.query('SELECT 6 AS n')).rows[0].n).toBe(6);
      });
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('hands a stream that cannot get a client the error, never a rejected promise', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 1 } });
    await app.close();
    try {
      await noUncaught(async () => {
        const stream = app.pool.query(new QueryStream('SELECT 1'));
        expect(stream).toBeInstanceOf(QueryStream);
        const error = await new Promise((resolve) => stream.once('error', resolve));
        expect(error).toBeInstanceOf(EntraPgShutdownError);
      });
    } finally {
      await authority.close();
    }
  });

  it('never hands a connection the server ended (FATAL) to the next caller', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 1 } });
    try {
      const pid = (await app.pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      const inFlight = app.pool.query('SELECT pg_sleep(3)').catch((e: unknown) => e);
      await sleep(200);
      const queued = app.pool.query('SELECT pg_backend_pid() AS pid');
      await db.adminPool.query('SELECT pg_terminate_backend($1)', [pid]);
      const failure = await inFlight;
      expect(failure).toBeInstanceOf(pg.DatabaseError);
      expect((failure as pg.DatabaseError).code).toBe('57P01');
      const served = await queued;
      expect(served.rows[0].pid).not.toBe(pid);
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('hands a socket error in the middle of a query to its caller, not to the process, and serves the next caller anew', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 1 } });
    try {
      await noUncaught(async () => {
        let checkedOut: pg.PoolClient | undefined;
        app.pool.on('acquire', (client: pg.PoolClient) => (checkedOut = client));
        const pid = (await app.pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
        const inFlight = app.pool.query('SELECT pg_sleep(3)').catch((e: unknown) => e);
        await sleep(200);
        const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
        (checkedOut as unknown as { connection: { stream: { destroy(error: Error): void } } }).connection.stream.destroy(reset);
        expect(await inFlight).toBe(reset);
        expect((await app.pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid).not.toBe(pid);
      });
    } finally {
      await app.close();
      await authority.close();
    }
  });
});
