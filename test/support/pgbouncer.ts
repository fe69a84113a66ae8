import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type TestPostgres } from './postgres.js';

export interface PgBouncer {
  host: string;
  port: number;
  /** The PgBouncer process. */
  pid: number;
  /** Ends PgBouncer (SIGTERM, then SIGKILL if it has not exited within a few seconds) and removes its folder. */
  stop(): Promise<void>;
}

/** What to install when PgBouncer is missing. */
export const PGBOUNCER_INSTALL_HINT = 'apt-get install pgbouncer (Debian/Ubuntu)';

/** Path of Debian's pgbouncer binary, or undefined when it is not installed. */
export function pgBouncerBinary(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v pgbouncer || ls /usr/sbin/pgbouncer'], { encoding: 'utf8' }).trim().split('\n')[0];
  } catch {
    return undefined;
  }
}

const AUTH_ROLE = 'pgbouncer_auth';
const AUTH_PASSWORD = 'pgbouncer-auth-secret';
/** How long stop() waits for PgBouncer to exit after SIGTERM, and again after SIGKILL. */
const STOP_GRACE_MS = 5_000;

/**
 * Debian's PgBouncer on loopback in transaction mode in front of the test PostgreSQL, as Azure
 * runs it on port 6432, passing each client's password through to PostgreSQL: it looks the role
 * up with `auth_query` (only a password still VALID UNTIL now), checks the client's SCRAM proof
 * against it, and logs in to PostgreSQL with the keys that proof carries (SCRAM pass-through,
 * PgBouncer ≥ 1.14). So an expired or replaced token is refused, by PgBouncer and by the server,
 * and established server connections live on, as with Entra tokens behind Azure's PgBouncer.
 * Undefined when PgBouncer is not installed.
 */
export async function startPgBouncer(db: TestPostgres): Promise<PgBouncer | undefined> {
  const executable = pgBouncerBinary();
  if (!executable) return undefined;
  await db.adminPool.query(`DO $$ BEGIN CREATE ROLE ${AUTH_ROLE} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
  await db.adminPool.query(`ALTER ROLE ${AUTH_ROLE} PASSWORD '${AUTH_PASSWORD}'`);
  // As PgBouncer's documentation advises: the auth user reads pg_shadow only through this function.
  await db.adminPool.query(`
    CREATE OR REPLACE FUNCTION public.pgbouncer_get_auth(p_usename text) RETURNS TABLE(username text, password text)
    LANGUAGE sql SECURITY DEFINER AS $$
      SELECT usename::text, passwd::text FROM pg_catalog.pg_shadow
      WHERE usename = p_usename AND (valuntil IS NULL OR valuntil > now())
    $$`);
  await db.adminPool.query(`REVOKE ALL ON FUNCTION public.pgbouncer_get_auth(text) FROM PUBLIC`);
  await db.adminPool.query(`GRANT EXECUTE ON FUNCTION public.pgbouncer_get_auth(text) TO ${AUTH_ROLE}`);

  const dir = await mkdtemp(join(tmpdir(), 'entra-pg-pgbouncer-'));
  // As root, PgBouncer runs as the postgres OS user (it refuses root), which must read its files.
  await chmod(dir, 0o755);
  const port = await freePort();
  const ini = join(dir, 'pgbouncer.ini');
  const userlist = join(dir, 'userlist.txt');
  await writeFile(userlist, `"${AUTH_ROLE}" "${AUTH_PASSWORD}"\n`);
  await writeFile(
    ini,
    [
      '[databases]',
      `postgres = host=127.0.0.1 port=${db.port} dbname=postgres`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${userlist}`,
      `auth_user = ${AUTH_ROLE}`,
      'auth_query = SELECT username, password FROM public.pgbouncer_get_auth($1)',
      'pool_mode = transaction',
      'max_client_conn = 500',
      'default_pool_size = 20',
      'ignore_startup_parameters = application_name,extra_float_digits,options',
      '',
    ].join('\n'),
  );
  await chmod(ini, 0o644);
  await chmod(userlist, 0o644);
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn(executable, asRoot ? ['-u', 'postgres', ini] : [ini], { stdio: ['ignore', 'ignore', 'pipe'] });
  // It logs to stderr; the last lines explain a failed start.
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2_000)));
  // A process that could not be spawned emits 'error' (unhandled, it would crash the test run) and maybe never 'exit'.
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const exit = (timeoutMs: number) =>
    new Promise<void>((resolve) => {
      if (exited() || spawnError) return resolve();
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        child.off('exit', done);
        resolve();
      }
      child.once('exit', done);
    });
  const stop = async () => {
    if (!exited() && !spawnError) {
      // SIGTERM is an immediate shutdown in 1.18, but PgBouncer 1.23 made it wait for every client to leave.
      child.kill('SIGTERM');
      await exit(STOP_GRACE_MS);
      if (!exited()) {
        child.kill('SIGKILL');
        await exit(STOP_GRACE_MS);
      }
    }
    await rm(dir, { recursive: true, force: true });
  };
  // Bounded: PgBouncer listens within a second or two.
  for (let attempt = 0; ; attempt += 1) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (up) break;
    if (exited() || spawnError || attempt >= 100) {
      await stop();
      throw new Error(`PgBouncer did not start (${executable}, exit code ${child.exitCode}${spawnError ? `, ${spawnError.message}` : ''}): ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { host: '127.0.0.1', port, pid: child.pid!, stop };
}

/** startPgBouncer() for suites that cannot run without it: fails with the install hint instead. */
export async function requirePgBouncer(db: TestPostgres): Promise<PgBouncer> {
  const started = await startPgBouncer(db);
  if (!started) throw new Error(`These tests need Debian's PgBouncer, which is not installed: ${PGBOUNCER_INSTALL_HINT}`);
  return started;
}
