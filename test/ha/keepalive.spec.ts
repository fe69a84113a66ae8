import type pg from 'pg';
import { bootPool, newRole } from '../support/harness.js';
import { LogCapture } from '../support/log-capture.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

/** What pg's Connection was told about TCP keepalive for a client's socket. */
function keepAliveOf(client: pg.PoolClient): { on: unknown; delayMs: unknown } {
  const connection = (client as unknown as { connection: { _keepAlive: unknown; _keepAliveInitialDelayMillis: unknown } }).connection;
  return { on: connection._keepAlive, delayMs: connection._keepAliveInitialDelayMillis };
}

describe('high availability: TCP keepalive', () => {
  let db: TestPostgres;
  beforeAll(async () => {
    db = await startPostgres();
  });
  afterAll(() => db.stop());
  beforeEach(() => {
    LogCapture.install();
  });

  it('is on by default with a 60 s delay (inside Azure\'s 4-minute idle timeout), and pg.keepAlive: false turns it off', async () => {
    const authority = await newRole(db, 60_000);
    const on = await bootPool(db, { credential: authority });
    const off = await bootPool(db, { credential: authority, pg: { keepAlive: false } });
    try {
      const client = await on.pool.connect();
      expect(keepAliveOf(client)).toEqual({ on: true, delayMs: 60_000 });
      client.release();
      const plain = await off.pool.connect();
      expect(keepAliveOf(plain).on).toBe(false);
      plain.release();
    } finally {
      await on.close();
      await off.close();
      await authority.close();
    }
  });
});
