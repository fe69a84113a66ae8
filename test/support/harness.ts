import { Test, type TestingModule } from '@nestjs/testing';
import { TerminusModule } from '@nestjs/terminus';
import type { ModuleMetadata } from '@nestjs/common';
import pg from 'pg';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { CallbackSource, EntraPgHealthIndicator, EntraPgModule, type EntraPgModuleOptions, getEntraPgConnectionToken, PG_POOL, type PgSecret } from '../../lib/index.js';
import type { EntraPgConnection } from '../../lib/connection/entra-pg.connection.js';
import { type LocalEntraLogin, LocalTokenAuthority } from '../../lib/testing/index.js';
import { LogCapture } from './log-capture.js';
import type { TestPostgres } from './postgres.js';

type ModuleImport = NonNullable<ModuleMetadata['imports']>[number];

let roleCounter = 0;

/**
 * A fresh role and a LocalTokenAuthority for it, so tests in one server do not share passwords.
 * With `front`, tokens are registered with a LocalEntraLogin, where every unexpired token stays
 * valid as on Azure (connect through `viaFront(front)`); without it, each token becomes the
 * role's one password.
 */
export async function newRole(
  db: TestPostgres,
  lifetimeMs: number,
  claims?: (role: string) => Record<string, unknown>,
  front?: LocalEntraLogin,
): Promise<LocalTokenAuthority> {
  roleCounter += 1;
  const role = `app_${process.pid}_${roleCounter}`;
  await db.createRole(role);
  const options = { role, lifetimeMs, claims: claims?.(role) };
  return front ? front.authority(options) : new LocalTokenAuthority({ admin: db.admin, ...options });
}

/** Logs in through `front` with `password`: who the server sees, and whether the socket was encrypted and its certificate verified. */
export async function loginThrough(
  front: LocalEntraLogin,
  user: string,
  password: string,
  ssl: ConnectionOptions,
): Promise<{ user: string; encrypted: boolean; authorized: boolean }> {
  const client = new pg.Client({ host: front.host, port: front.port, user, password, database: 'postgres', ssl });
  await client.connect();
  try {
    const stream = (client as unknown as { connection: { stream: TLSSocket } }).connection.stream;
    const { rows } = await client.query<{ u: string }>('SELECT current_user AS u');
    return { user: rows[0]!.u, encrypted: stream.encrypted, authorized: stream.authorized };
  } finally {
    await client.end();
  }
}

/** Connection settings that log in through a LocalEntraLogin front. */
export function viaFront(front: LocalEntraLogin): { host: string; port: number } {
  return { host: front.host, port: front.port };
}

export interface Harness {
  module: TestingModule;
  pool: pg.Pool;
  connection: EntraPgConnection;
  health: EntraPgHealthIndicator;
  close(): Promise<void>;
}

/**
 * Boots EntraPgModule (with Terminus, for the health indicator) in a Nest testing module against the
 * test server; `imports` adds modules that use it (an ORM module, say).
 */
export async function bootPool(db: TestPostgres, options: EntraPgModuleOptions, imports: ModuleImport[] = []): Promise<Harness> {
  const builder = Test.createTestingModule({
    imports: [
      TerminusModule,
      EntraPgModule.forRoot({ host: db.host, port: db.port, database: 'postgres', retryAttempts: 0, ...options }),
      ...imports,
    ],
  });
  if (LogCapture.current) builder.setLogger(LogCapture.current);
  const module = await builder.compile();
  await module.init();
  return {
    module,
    pool: module.get<pg.Pool>(PG_POOL),
    connection: module.get<EntraPgConnection>(getEntraPgConnectionToken()),
    health: module.get(EntraPgHealthIndicator),
    close: () => module.close(),
  };
}

/** A vault client as apps have them, behind the module's CallbackSource (the migration of 0.1's `credentials`). */
export interface VaultLike {
  getCredentials(options?: { abortSignal?: AbortSignal }): Promise<PgSecret>;
}
export function vaultSource(vault: VaultLike): CallbackSource {
  return new CallbackSource((signal) => vault.getCredentials({ abortSignal: signal }), { label: 'vault secret', description: 'test vault' });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `condition` holds, checking every 20 ms, for at most `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Runs `work` on `concurrency` workers until `durationMs` has passed; counts results. */
export async function load(
  durationMs: number,
  concurrency: number,
  work: () => Promise<unknown>,
): Promise<{ ok: number; failed: number; errors: string[] }> {
  const deadline = Date.now() + durationMs;
  const stats = { ok: 0, failed: 0, errors: [] as string[] };
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        try {
          await work();
          stats.ok += 1;
        } catch (error) {
          stats.failed += 1;
          if (stats.errors.length < 5) stats.errors.push((error as Error).message);
        }
        await sleep(5);
      }
    }),
  );
  return stats;
}
