import { runTypeScriptChild } from '../support/child-node.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

/**
 * pg's private members live in lib/pool/pg-internals.ts; this runs the pool's hygiene on the oldest
 * pg release the package supports (the `pg-oldest` alias: pg 8.11.0 with pg-pool 3.6.0, whose
 * Client has no getTransactionStatus()) and on the newest installed, in child processes.
 */
describe('supported pg releases', () => {
  let db: TestPostgres;
  beforeAll(async () => {
    db = await startPostgres();
    await db.adminPool.query(`CREATE ROLE versions_app LOGIN PASSWORD 'versions-secret'`);
  });
  afterAll(() => db.stop());

  it.each([
    ['pg-oldest', '8.11.0'],
    ['pg', '8.23.1'],
  ])('%s: what pg-internals needs is there, and no poisoned connection is handed out', async (pgPackage, version) => {
    const result = await runTypeScriptChild(
      'test/support/pg-version/hygiene-child.ts',
      { PG_PACKAGE: pgPackage, PGHOST: db.host, PGPORT: String(db.port), PGUSER: 'versions_app', TEST_PASSWORD: 'versions-secret' },
      { preload: ['test/support/pg-version/use-pg-package.mjs'], timeoutMs: 30_000 },
    );
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout.trim())).toEqual({
      pgVersion: version,
      aborted: '22012',
      failedAfter: 0,
      releasedInTransactionReused: false,
      nextOpen: false,
      keptAfterHarmlessError: true,
      callerInStack: true,
    });
  });
});
