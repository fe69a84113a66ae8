import pg from 'pg';
import { LogCapture } from '../support/log-capture.js';
import { bootPool, sleep } from '../support/harness.js';
import type { TestPostgres } from '../support/postgres.js';
import { onTestName, TestResolver, useFleet } from '../support/postgres-fleet.js';
import { steadyLoad } from '../support/steady-load.js';
import { socketFactory } from '../../lib/pool/dns-watch.js';

/**
 * A switchover where the old primary stays up, read-only: `db.test` moves from A (127.0.0.2) to B
 * (127.0.0.3) and A turns read-only. The same write load runs on a plain pg.Pool and on PG_POOL,
 * each resolving `db.test` through the same test resolver; PG_POOL's DNS re-check is left at its
 * 30 s default, so what moves it is the first 25006.
 */
describe('a server that turns read-only while the host name moves (switchover)', () => {
  const role = `wrong_server_${process.pid}`;
  const password = 'one-secret-for-both';
  const A = '127.0.0.2';
  const B = '127.0.0.3';
  const servers = useFleet(2, role, password);
  beforeAll(async () => {
    for (const server of servers) {
      await server.adminPool.query('CREATE TABLE writes (at timestamptz DEFAULT now())');
      await server.adminPool.query(`GRANT ALL ON writes TO ${pg.escapeIdentifier(role)}`);
    }
  });

  async function setReadOnly(server: TestPostgres, on: boolean): Promise<void> {
    await server.adminPool.query(on ? 'ALTER SYSTEM SET default_transaction_read_only = on' : 'ALTER SYSTEM RESET default_transaction_read_only');
    await server.adminPool.query('SELECT pg_reload_conf()');
  }

  /** Writes from 6 callers; 600 ms in, the name moves to B and A turns read-only; 2.4 s later it stops. */
  async function switchover(pool: pg.Pool, resolver: TestResolver) {
    const load = steadyLoad(async () => (await pool.query<{ a: string }>('INSERT INTO writes DEFAULT VALUES RETURNING host(inet_server_addr()) AS a')).rows[0]!.a, 6);
    try {
      await sleep(600);
      const movedAt = Date.now();
      resolver.set('db.test', [B]);
      await setReadOnly(servers[0]!, true);
      await sleep(2_400);
      await load.stop();
      const failed = load.outcomes.filter((o) => o.error);
      for (const f of failed) expect(f.error).toMatchObject({ code: '25006' });
      // From the last failure on, every write landed on B.
      const lastFailure = Math.max(movedAt, ...failed.map((o) => o.endedAt));
      const after = load.outcomes.filter((o) => o.startedAt > lastFailure);
      return {
        before: load.outcomes.filter((o) => o.endedAt < movedAt && !o.error && o.value === A).length,
        failed: failed.length,
        recoveredMs: lastFailure - movedAt,
        afterOnB: after.length > 0 && after.every((o) => o.value === B),
      };
    } finally {
      await load.stop();
      await setReadOnly(servers[0]!, false);
      await sleep(300);
    }
  }

  it('PG_POOL writes again within one second, with no more failed writes than pg.Pool', async () => {
    const rawResolver = new TestResolver();
    rawResolver.set('db.test', [A]);
    const raw = new pg.Pool({ host: 'db.test', port: servers[0]!.port, user: role, password, database: 'postgres', max: 10, stream: socketFactory(rawResolver.lookup) });
    raw.on('error', () => undefined);
    const theirs = await switchover(raw, rawResolver).finally(() => raw.end());

    const resolver = new TestResolver();
    resolver.set('db.test', [A]);
    const app = await bootPool(servers[0]!, {
      ...onTestName(resolver.lookup, role, password),
      pool: { max: 10 },
    });
    const ours = await switchover(app.pool, resolver).finally(() => app.close());
    process.stdout.write(`switchover: pg.Pool ${JSON.stringify(theirs)}; PG_POOL ${JSON.stringify(ours)}\n`);

    expect(theirs.before).toBeGreaterThan(0);
    expect(ours.before).toBeGreaterThan(0);
    expect(ours.afterOnB).toBe(true);
    expect(ours.recoveredMs).toBeLessThanOrEqual(1_000);
    expect(ours.failed).toBeLessThanOrEqual(theirs.failed);
    // One line says why the pool moved.
    expect(LogCapture.current!.matching(/25006.*host name may point to another server/)).toHaveLength(1);
  });
});
