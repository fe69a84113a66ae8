import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type TestPostgres } from '../test/support/postgres.js';

export interface PgBouncer {
  host: string;
  port: number;
  stop(): Promise<void>;
}

function binary(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v pgbouncer || ls /usr/sbin/pgbouncer'], { encoding: 'utf8' }).trim().split('\n')[0];
  } catch {
    return undefined;
  }
}

/**
 * Debian's PgBouncer on loopback in transaction mode, in front of the test PostgreSQL, as Azure
 * runs it on port 6432. It logs in to PostgreSQL as the server user itself (`auth_type = any`):
 * here it neither checks nor forwards the client's token, so the rows measure the query path
 * through a pooler; token logins are measured through LocalEntraLogin. Undefined when PgBouncer
 * is not installed (`apt-get install pgbouncer`).
 */
export async function startPgBouncer(db: TestPostgres, serverRole: string, serverPassword: string): Promise<PgBouncer | undefined> {
  const executable = binary();
  if (!executable) return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'bench-pgbouncer-'));
  // As root, PgBouncer runs as the postgres OS user (it refuses root), which must read its files.
  await chmod(dir, 0o755);
  const port = await freePort();
  const ini = join(dir, 'pgbouncer.ini');
  await writeFile(
    ini,
    [
      '[databases]',
      `postgres = host=127.0.0.1 port=${db.port} dbname=postgres user=${serverRole} password=${serverPassword}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = any',
      'pool_mode = transaction',
      'max_client_conn = 500',
      'default_pool_size = 20',
      'ignore_startup_parameters = application_name,extra_float_digits,options',
      '',
    ].join('\n'),
  );
  await chmod(ini, 0o644);
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn(executable, asRoot ? ['-u', 'postgres', ini] : [ini], { stdio: ['ignore', 'ignore', 'pipe'] });
  // It logs to stderr; the last lines explain a failed start.
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2_000)));
  // Bounded: PgBouncer listens within a second or two.
  for (let i = 0; i < 100; i += 1) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (up) break;
    if (child.exitCode !== null) throw new Error(`pgbouncer exited with code ${child.exitCode}: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    host: '127.0.0.1',
    port,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
