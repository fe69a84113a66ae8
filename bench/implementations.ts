import { entraTokenProvider } from '@azure/postgresql-auth';
import { Test } from '@nestjs/testing';
import pg from 'pg';
import { EntraPgModule, type EntraPgPool, PG_POOL } from 'nestjs-entra-pg';
import type { LocalTokenAuthority } from 'nestjs-entra-pg/testing';

/** One way of giving an app a pool; the benchmark sends the same load through each. */
export interface Implementation {
  query(sql: string): Promise<unknown>;
  /** New backend connections opened so far (logins). */
  connectionsOpened(): number;
  /** Pools built beyond the first (recreations, rebuilds, rotations). */
  poolsReplaced(): number;
  close(): Promise<void>;
}

export interface Target {
  host: string;
  port: number;
  role: string;
  /** A token that never expires, registered with the login front, for the ceiling; unused by token implementations. */
  staticPassword?: string;
  authority: LocalTokenAuthority;
  max: number;
  maxLifetimeSeconds: number;
  /** Skip the first token and login before the load starts (cold storm). */
  cold?: boolean;
}

export interface ImplementationSpec {
  key: string;
  label: string;
  create(target: Target): Promise<Implementation>;
}

const SCOPE = 'https://ossrdbms-aad.database.windows.net/.default';
const AUTH_FAILED = new Set(['28P01', '28000']);

function baseConfig(t: Target): pg.PoolConfig {
  return { host: t.host, port: t.port, database: 'postgres', user: t.role, max: t.max, maxLifetimeSeconds: t.maxLifetimeSeconds };
}

function counting(pool: pg.Pool, counter: { opened: number }): pg.Pool {
  pool.on('connect', () => (counter.opened += 1));
  pool.on('error', () => undefined);
  return pool;
}

/** Opens the first connection before the load starts. Patterns whose first login can fail get three tries. */
async function warm(pool: { query(sql: string): Promise<unknown> }, cold: boolean | undefined): Promise<void> {
  if (cold) return;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await pool.query('SELECT 1');
      return;
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

/** pg.Pool with a token that never expires, through the same login front: the ceiling. */
const raw: ImplementationSpec = {
  key: 'raw',
  label: 'raw pg.Pool (never-expiring token)',
  async create(t) {
    const counter = { opened: 0 };
    const pool = counting(new pg.Pool({ ...baseConfig(t), password: t.staticPassword }), counter);
    await warm(pool, t.cold);
    return { query: (sql) => pool.query(sql), connectionsOpened: () => counter.opened, poolsReplaced: () => 0, close: () => pool.end() };
  },
};

/** This library, registered the way an app does. */
const entraPg: ImplementationSpec = {
  key: 'nestjs-entra-pg',
  label: 'nestjs-entra-pg',
  async create(t) {
    const module = await Test.createTestingModule({
      imports: [
        EntraPgModule.forRoot({
          host: t.host,
          port: t.port,
          credential: t.authority,
          lazyConnect: t.cold,
          pool: { max: t.max, maxLifetimeSeconds: t.maxLifetimeSeconds },
        }),
      ],
    })
      .setLogger(false as never)
      .compile();
    await module.init();
    const pool = module.get<EntraPgPool>(PG_POOL);
    const counter = { opened: t.cold ? 0 : 1 };
    pool.on('connect', () => (counter.opened += 1));
    return {
      query: (sql) => pool.query(sql),
      connectionsOpened: () => counter.opened,
      poolsReplaced: () => pool.rotations,
      close: () => module.close(),
    };
  },
};

/** Microsoft's helper: a token request from pg's password callback on every new connection. */
const azureHelper: ImplementationSpec = {
  key: 'azure-postgresql-auth',
  label: '@azure/postgresql-auth',
  async create(t) {
    const counter = { opened: 0 };
    const pool = counting(new pg.Pool({ ...baseConfig(t), password: entraTokenProvider(t.authority) }), counter);
    await warm(pool, t.cold);
    return { query: (sql) => pool.query(sql), connectionsOpened: () => counter.opened, poolsReplaced: () => 0, close: () => pool.end() };
  },
};

/** (a) Recreate the pool shortly before the token expires; end the old one a few seconds later. */
const recreate: ImplementationSpec = {
  key: 'recreate-pool',
  label: '(a) recreate pool before expiry',
  async create(t) {
    const counter = { opened: 0 };
    let replaced = 0;
    let timer: NodeJS.Timeout | undefined;
    let closed = false;
    const retiring = new Set<pg.Pool>();
    const build = async (): Promise<pg.Pool> => {
      const token = await t.authority.getToken();
      const pool = counting(new pg.Pool({ ...baseConfig(t), password: token.token }), counter);
      const renewIn = Math.max(100, token.expiresOnTimestamp - Date.now() - 1_000);
      timer = setTimeout(async () => {
        if (closed) return;
        let next: pg.Pool;
        try {
          next = await build();
        } catch {
          return; // as copied: no retry; the old pool serves until its token expires
        }
        if (closed) {
          void next.end();
          return;
        }
        const old = current;
        current = next;
        replaced += 1;
        retiring.add(old);
        setTimeout(() => {
          if (retiring.delete(old)) void old.end().catch(() => undefined);
        }, 3_000).unref();
      }, renewIn);
      timer.unref();
      return pool;
    };
    let current = await build();
    await warm(current, t.cold);
    return {
      query: (sql) => current.query(sql),
      connectionsOpened: () => counter.opened,
      poolsReplaced: () => replaced,
      async close() {
        closed = true;
        clearTimeout(timer);
        const pools = [current, ...retiring];
        retiring.clear();
        await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
      },
    };
  },
};

/** (b) `password: () => credential.getToken(scope)` on every new connection. */
const perConnection: ImplementationSpec = {
  key: 'token-per-connection',
  label: '(b) getToken() per connection',
  async create(t) {
    const counter = { opened: 0 };
    const password = async () => (await t.authority.getToken(SCOPE)).token;
    const pool = counting(new pg.Pool({ ...baseConfig(t), password }), counter);
    await warm(pool, t.cold);
    return { query: (sql) => pool.query(sql), connectionsOpened: () => counter.opened, poolsReplaced: () => 0, close: () => pool.end() };
  },
};

/** (c) Create the pool once; rebuild it when a login fails with auth_failed. The failure reaches the caller. */
const rebuild: ImplementationSpec = {
  key: 'rebuild-on-auth-failure',
  label: '(c) rebuild pool on auth_failed',
  async create(t) {
    const counter = { opened: 0 };
    let replaced = 0;
    const build = async () => counting(new pg.Pool({ ...baseConfig(t), password: (await t.authority.getToken(SCOPE)).token }), counter);
    let current = await build();
    const old: pg.Pool[] = [];
    await warm(current, t.cold);
    return {
      async query(sql) {
        try {
          return await current.query(sql);
        } catch (error) {
          if (AUTH_FAILED.has((error as { code?: string }).code ?? '')) {
            // As copied: every failing caller fetches a token and swaps the pool.
            old.push(current);
            current = await build();
            replaced += 1;
          }
          throw error;
        }
      },
      connectionsOpened: () => counter.opened,
      poolsReplaced: () => replaced,
      async close() {
        await Promise.all([current, ...old].map((p) => p.end().catch(() => undefined)));
      },
    };
  },
};

export const IMPLEMENTATIONS: ImplementationSpec[] = [raw, entraPg, azureHelper, recreate, perConnection, rebuild];
