/**
 * Run in a child process under one pg release (see use-pg-package.mjs): boots the pool against the
 * server in PG* and prints what it saw as one JSON line. The parent test compares releases.
 */
import { createRequire } from 'node:module';
import { Test } from '@nestjs/testing';
import pg from 'pg';
import { EntraPgModule, PG_POOL } from '../../../lib/index.js';

const IN_TRANSACTION = 'SELECT now() <> statement_timestamp() AS open, pg_backend_pid() AS pid';

async function main(): Promise<void> {
  const pgVersion = (createRequire(import.meta.url)(`${process.env.PG_PACKAGE ?? 'pg'}/package.json`) as { version: string }).version;
  const module = await Test.createTestingModule({
    imports: [
      EntraPgModule.forRoot({
        host: process.env.PGHOST,
        port: Number(process.env.PGPORT),
        user: process.env.PGUSER,
        password: process.env.TEST_PASSWORD,
        database: 'postgres',
        retryAttempts: 0,
        pool: { max: 1 },
      }),
    ],
  }).compile();
  module.useLogger(false);
  await module.init();
  const pool = module.get<pg.Pool>(PG_POOL);
  try {
    const aborted = await pool.query('BEGIN; SELECT 1/0').then(
      () => 'resolved',
      (error: { code?: string }) => error.code,
    );
    let failedAfter = 0;
    for (let i = 0; i < 20; i += 1) await pool.query('SELECT 1').catch(() => (failedAfter += 1));
    const client = await pool.connect();
    const before = (await client.query<{ pid: number }>(IN_TRANSACTION)).rows[0]!;
    await client.query('BEGIN');
    client.release();
    const next = (await pool.query<{ open: boolean; pid: number }>(IN_TRANSACTION)).rows[0]!;
    const harmless = (await pool.query<{ pid: number }>(IN_TRANSACTION)).rows[0]!.pid;
    await pool.query('SELECT * FROM no_such_table').catch(() => undefined);
    const afterHarmless = (await pool.query<{ pid: number }>(IN_TRANSACTION)).rows[0]!.pid;
    const stack = await (async function callerOfTheFailingQuery() {
      try {
        await pool.query('SELECT 1/0');
        return '';
      } catch (error) {
        return (error as Error).stack ?? '';
      }
    })();
    process.stdout.write(
      `${JSON.stringify({
        pgVersion,
        aborted,
        failedAfter,
        releasedInTransactionReused: next.pid === before.pid,
        nextOpen: next.open,
        keptAfterHarmlessError: harmless === afterHarmless,
        callerInStack: stack.includes('callerOfTheFailingQuery'),
      })}\n`,
    );
  } finally {
    await module.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
