import pg from 'pg';
import { AZURE_POSTGRES_SCOPE as SCOPE } from '../../lib/entra-pg.constants.js';
import { load, newRole, bootPool, sleep } from '../support/harness.js';
import { LogCapture } from '../support/log-capture.js';
import { type PgBouncer, requirePgBouncer, startPgBouncer } from '../support/pgbouncer.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

/**
 * Azure Database for PostgreSQL runs PgBouncer on port 6432 and passes each client's token through
 * to the server. Here Debian's PgBouncer does the same with SCRAM pass-through: a token is the
 * role's password until it expires (`VALID UNTIL`) or the next one replaces it.
 */
/** PgBouncer's answer to a SCRAM proof that does not match the role's current password. */
const REFUSED = /^refused: SASL authentication failed$/;
/** Its answer once the password has expired: auth_query finds no password VALID UNTIL now. */
const EXPIRED = /^refused: no such user$/;

describe('through PgBouncer (transaction mode, tokens passed through)', () => {
  let db: TestPostgres;
  let bouncer: PgBouncer;
  beforeAll(async () => {
    db = await startPostgres();
    bouncer = await requirePgBouncer(db);
  });
  afterAll(async () => {
    await bouncer?.stop();
    await db?.stop();
  });
  beforeEach(() => {
    LogCapture.install();
  });

  /** One login through PgBouncer with `password`: the role the server sees, or the error. */
  async function loginAs(user: string, password: string): Promise<string> {
    const client = new pg.Client({ host: bouncer.host, port: bouncer.port, database: 'postgres', user, password, connectionTimeoutMillis: 5_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u;
    } catch (error) {
      return `refused: ${(error as Error).message}`;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  it('checks every token: a current one logs in, an expired or replaced one is refused', async () => {
    const authority = await newRole(db, 1_500);
    try {
      const first = (await authority.getToken(SCOPE))!.token;
      expect(await loginAs(authority.role, first)).toBe(authority.role);
      expect(await loginAs(authority.role, 'not-the-token')).toMatch(REFUSED);
      // The next token replaces the first for new logins.
      const second = (await authority.getToken(SCOPE))!.token;
      expect(await loginAs(authority.role, first)).toMatch(REFUSED);
      expect(await loginAs(authority.role, second)).toBe(authority.role);
      await sleep(1_700);
      expect(await loginAs(authority.role, second)).toMatch(EXPIRED);
    } finally {
      await authority.close();
    }
  });

  it('refetches the token and logs in again when PgBouncer refuses the cached one', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { host: bouncer.host, port: bouncer.port, credential: authority, pool: { max: 4 } });
    try {
      const held = await app.pool.connect();
      // The token is replaced behind the pool's back (as when a role is re-mapped): its cached
      // token no longer logs in, and the next caller needs a new connection.
      await authority.getToken(SCOPE);
      const results = await Promise.allSettled(Array.from({ length: 3 }, () => app.pool.query('SELECT current_user AS u')));
      held.release();
      expect(results.map((r) => (r.status === 'fulfilled' ? r.value.rows[0].u : String(r.reason)))).toEqual(Array(3).fill(authority.role));
      // Boot's token, the one fetched behind its back, and one shared refetch after the refusal.
      expect(authority.requests).toBe(3);
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('stops a PgBouncer that ignores SIGTERM within a bound, leaving no process behind', async () => {
    const second = (await startPgBouncer(db))!;
    const alive = () => {
      try {
        process.kill(second.pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    try {
      // A stopped process acts on no signal but SIGKILL: like a PgBouncer waiting on its clients to leave.
      process.kill(second.pid, 'SIGSTOP');
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        second.stop().then(() => 'stopped'),
        new Promise((resolve) => (timer = setTimeout(resolve, 20_000, 'still waiting'))),
      ]);
      clearTimeout(timer);
      expect(outcome).toBe('stopped');
      expect(alive()).toBe(false);
    } finally {
      if (alive()) process.kill(second.pid, 'SIGKILL');
    }
  });

  it('serves every query across several token lifetimes with connections recycled, each login with a current token', async () => {
    const authority = await newRole(db, 2_000);
    const app = await bootPool(db, {
      host: bouncer.host,
      port: bouncer.port,
      credential: authority,
      pool: { max: 4, maxLifetimeSeconds: 1 },
      refresh: { marginMs: 1_000 },
    });
    try {
      const stats = await load(7_000, 8, () => app.pool.query('SELECT current_user AS u, pg_sleep(0.005)'));
      expect(stats).toMatchObject({ failed: 0, errors: [] });
      expect(stats.ok).toBeGreaterThan(500);
      // About one token per second of a 2 s lifetime refreshed 1 s ahead: 7 s crosses several.
      expect(authority.requests).toBeGreaterThanOrEqual(4);
      // Client connections recycled every second had to log in to PgBouncer with the token of the
      // moment. In transaction mode PgBouncer needs a server connection only per transaction under
      // way, so never more than the pool's 4 clients, however many logins the recycling made.
      const backends = await db.backends(authority.role);
      expect(backends).toBeGreaterThan(0);
      expect(backends).toBeLessThanOrEqual(4);
      expect((await app.health.isHealthy()).database.status).toBe('up');
    } finally {
      await app.close();
      await authority.close();
    }
  });
});
