import { Logger } from '@nestjs/common';
import { LocalTokenAuthority } from 'nestjs-entra-pg/testing';
import pg from 'pg';
import { bootEntraPg } from './boot-entra-pg.js';
import { queryRound } from './load.js';

/**
 * One implementation of bench/direct.ts in a process of its own, as an app has one pool
 * implementation: the parent sends `{ run: queries }` and gets `{ qps, cpuUs, opened }` back, so
 * its rounds alternate between processes. Sharing one process, the implementations shared pg's and
 * pg-pool's compiled code and its type feedback, and its heap; the one measured second paid for it.
 */
export type DirectImpl = 'raw' | 'rawControl' | 'static' | 'token' | 'metrics';

export interface DirectWorkerConfig {
  impl: DirectImpl;
  target: { host: string; port: number; database: string };
  admin: pg.PoolConfig;
  /** Role and password of the raw pools and the static password. */
  passwordRole: { user: string; password: string };
  /** Role the token credential issues tokens for (one per worker: each token replaces the last). */
  tokenRole: string;
  poolMax: number;
  idleTimeoutMillis: number;
  concurrency: number;
}

export type DirectWorkerRequest = { run: number } | { close: true };
export type DirectWorkerReply = { ready: true } | { qps: number; cpuUs: number; opened: number } | { error: string };

interface Queryable {
  query(sql: string): Promise<unknown>;
  on(event: 'connect', listener: () => void): unknown;
}

async function main(): Promise<void> {
  Logger.overrideLogger(false);
  const config = JSON.parse(process.argv[2] ?? '{}') as DirectWorkerConfig;
  const send = (reply: DirectWorkerReply) => process.send?.(reply);
  const { target, poolMax, idleTimeoutMillis } = config;
  const closers: Array<() => Promise<unknown>> = [];
  let pool: Queryable;
  if (config.impl === 'raw' || config.impl === 'rawControl') {
    const raw = new pg.Pool({ ...target, ...config.passwordRole, max: poolMax, idleTimeoutMillis });
    raw.on('error', () => undefined);
    closers.push(() => raw.end());
    pool = raw;
  } else {
    const authority = new LocalTokenAuthority({ admin: config.admin, role: config.tokenRole, lifetimeMs: 3_600_000, cacheForMs: 3_600_000 });
    closers.push(() => authority.close());
    const source = config.impl === 'static' ? { ...config.passwordRole } : { credential: authority };
    const booted = await bootEntraPg({ ...target, ...source, pool: { idleTimeoutMillis } }, poolMax, config.impl === 'metrics');
    closers.unshift(() => booted.close());
    pool = booted.pool;
  }
  let opened = 0;
  const measure = (queries: number) => queryRound(pool, queries, config.concurrency);
  // Warm: every connection open and the code compiled before the first measured round.
  await measure(poolMax * 200);
  pool.on('connect', () => (opened += 1));
  process.on('message', (request: DirectWorkerRequest) => {
    if ('close' in request) {
      void Promise.allSettled(closers.map((close) => close())).then(() => process.exit(0));
      return;
    }
    measure(request.run).then(
      (figures) => send({ ...figures, opened }),
      (error: unknown) => send({ error: String(error) }),
    );
  });
  // The parent going away ends this worker too.
  process.on('disconnect', () => process.exit(0));
  send({ ready: true });
}

main().catch((error: unknown) => {
  process.send?.({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
