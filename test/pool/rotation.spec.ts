import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import pg from 'pg';
import type { EntraPgPool, PgSecret } from '../../lib/index.js';
import { LogCapture } from '../support/log-capture.js';
import { bootPool, load, newRole, sleep, vaultSource, type VaultLike } from '../support/harness.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { hasFastProperties } from '../support/v8-shape.js';

/** A vault that rotates by creating a new role with a new password, like AWS's alternating-users scheme. */
class RotatingVault implements VaultLike {
  requests = 0;
  current: PgSecret = { user: 'vault_a', password: 'secret-a-1' };
  async getCredentials(): Promise<PgSecret> {
    this.requests += 1;
    return { ...this.current };
  }
}

describe('rotation to a new identity', () => {
  let db: TestPostgres;
  let logs: LogCapture;
  beforeAll(async () => {
    db = await startPostgres();
    for (const role of ['vault_a', 'vault_b']) await db.createRole(role);
    await db.adminPool.query(`ALTER ROLE vault_a PASSWORD 'secret-a-1'`);
    await db.adminPool.query(`ALTER ROLE vault_b PASSWORD 'secret-b-1'`);
  });
  afterAll(() => db.stop());
  beforeEach(() => {
    logs = LogCapture.install();
  });

  it('moves to a new pool when the vault hands out another user, with no failed query', async () => {
    const vault = new RotatingVault();
    const app = await bootPool(db, {
      source: vaultSource(vault),
      pool: { max: 4 },
      refresh: { forcedRefreshMinIntervalMs: 100, intervalMs: 300 },
    });
    try {
      const running = load(2_500, 6, () => app.pool.query('SELECT current_user AS u, pg_sleep(0.01)'));
      await sleep(500);
      // The vault rotates: a new user, and the old password is revoked for new logins.
      vault.current = { user: 'vault_b', password: 'secret-b-1' };
      await db.adminPool.query(`ALTER ROLE vault_a PASSWORD 'revoked'`);
      const stats = await running;
      expect(stats.failed).toBe(0);
      expect((await app.pool.query('SELECT current_user AS u')).rows[0].u).toBe('vault_b');
      expect(app.connection.status().rotations).toBe(1);
      expect(logs.matching(/Rotating to a new pool: the user changed from "vault_a" to "vault_b"/)).toHaveLength(1);
      await sleep(200);
      expect(await db.backends('vault_a')).toBe(0); // the old generation drained and closed
    } finally {
      await app.close();
    }
    logs.assertNoSecrets(['secret-a-1', 'secret-b-1']);
  });

  it('rotate() replaces the pool: idle connections close at once, checked-out ones on release', async () => {
    const vault = new RotatingVault();
    await db.adminPool.query(`ALTER ROLE vault_a PASSWORD 'secret-a-1'`);
    const app = await bootPool(db, { source: vaultSource(vault), pool: { max: 4 } });
    try {
      const held = await app.pool.connect();
      await app.pool.query('SELECT 1'); // a second, idle connection
      const heldPid = (await held.query('SELECT pg_backend_pid() AS p')).rows[0].p;
      await (app.pool as EntraPgPool).rotate();
      await sleep(100);
      expect(await db.backends('vault_a')).toBe(1); // only the checked-out one remains
      const inFlight = held.query('SELECT pg_sleep(0.1), 7 AS n');
      expect((await inFlight).rows[0].n).toBe(7);
      const fresh = await app.pool.query('SELECT pg_backend_pid() AS p');
      expect(fresh.rows[0].p).not.toBe(heldPid);
      held.release();
      await sleep(100);
      expect(await db.backends('vault_a')).toBe(1); // the new generation's one connection
      expect(app.connection.status().rotations).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('every generation of every pool makes its clients from one class and keeps pg-pool\'s options fast, so property reads on the query path stay cheap', async () => {
    await db.adminPool.query(`ALTER ROLE vault_a PASSWORD 'secret-a-1'`);
    const first = await bootPool(db, { source: vaultSource(new RotatingVault()), pool: { max: 2 } });
    const second = await bootPool(db, { source: vaultSource(new RotatingVault()), pool: { max: 2 } });
    try {
      const classOf = async (pool: pg.Pool) => {
        const client = await pool.connect();
        client.release();
        return client.constructor;
      };
      const before = await classOf(first.pool);
      await (first.pool as EntraPgPool).rotate();
      await (first.pool as EntraPgPool).rotate();
      expect(first.connection.status().rotations).toBe(2);
      expect(await classOf(first.pool)).toBe(before);
      expect(await classOf(second.pool)).toBe(before);
      expect(before).not.toBe(pg.Client);
      // And pg-pool's options, read on every checkout and release, stay a fast-mode object.
      const active = (first.pool as unknown as { generations: { active: { pool: pg.Pool } } }).generations.active.pool;
      expect(hasFastProperties(active.options)).toBe(true);
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('never exceeds pool.max across generations while the old one drains, and the old one opens no login', async () => {
    await db.adminPool.query(`ALTER ROLE vault_a PASSWORD 'secret-a-1'`);
    const vault = new RotatingVault();
    const app = await bootPool(db, { source: vaultSource(vault), pool: { max: 4 }, refresh: { intervalMs: 60_000 } });
    const logins: string[] = [];
    app.pool.on('connect', (client: { user?: string }) => logins.push(client.user ?? '?'));
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, app.pool.totalCount, (await db.backends('vault_a')) + (await db.backends('vault_b')));
        await sleep(10);
      }
    })();
    try {
      // Every slot busy on the old identity, and callers queued behind them.
      const busy = Array.from({ length: 4 }, () => app.pool.query('SELECT current_user AS u, pg_sleep(0.6)'));
      await sleep(150);
      const queuedOnOld = Array.from({ length: 4 }, () => app.pool.query('SELECT current_user AS u'));
      vault.current = { user: 'vault_b', password: 'secret-b-1' };
      await (app.pool as EntraPgPool).rotate();
      const burst = Array.from({ length: 8 }, () => app.pool.query('SELECT current_user AS u'));
      const results = await Promise.all([...busy, ...queuedOnOld, ...burst]);
      expect(results.slice(0, 4).every((r) => r.rows[0].u === 'vault_a')).toBe(true);
      expect(results.slice(8).every((r) => r.rows[0].u === 'vault_b')).toBe(true);
      sampling = false;
      await sampler;
      expect(peak).toBeLessThanOrEqual(4);
      const firstB = logins.indexOf('vault_b');
      expect(firstB).toBeGreaterThan(-1);
      expect(logins.slice(firstB).filter((user) => user === 'vault_a')).toEqual([]);
    } finally {
      sampling = false;
      await sampler;
      await app.close();
    }
  });

  it('a login of the old identity waiting for the secret is never handed the next identity\'s password', async () => {
    const [a, b] = ['gen_a', 'gen_b'];
    for (const [role, password] of [[a, 'pw-A'], [b, 'pw-B']] as const) {
      await db.createRole(role);
      await db.adminPool.query(`ALTER ROLE ${role} PASSWORD '${password}'`);
    }
    let calls = 0;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const source: VaultLike = {
      async getCredentials() {
        calls += 1;
        if (calls === 1) return { user: a, password: 'pw-A', expiresAt: new Date(Date.now() + 1_500) };
        await gate;
        return { user: b, password: 'pw-B', expiresAt: new Date(Date.now() + 3_600_000) };
      },
    };
    // Idle connections close quickly, so the queries below need new logins.
    const app = await bootPool(db, { source: vaultSource(source), pool: { max: 5, idleTimeoutMillis: 200 }, refresh: { marginMs: 0, timeoutMs: 20_000 } });
    const sent: Array<{ user: string; password: string }> = [];
    try {
      // The scheduled refresh is under way and the secret has expired.
      for (let i = 0; i < 200; i += 1) {
        const status = app.connection.status();
        if (status.refreshingSince !== undefined && Date.now() >= status.expiresAt!) break;
        await sleep(20);
      }
      // Watch the passwords the old generation's logins are given.
      const oldGeneration = (app.pool as unknown as { generations: { active: { pool: { Client: typeof pg.Client } } } }).generations.active.pool;
      const Tracked = oldGeneration.Client;
      oldGeneration.Client = class extends Tracked {
        constructor(config?: pg.ClientConfig) {
          super(config);
          const self = this as unknown as { password: (...args: unknown[]) => Promise<string>; user: string };
          const password = self.password;
          self.password = async (...args: unknown[]) => {
            const value = await password(...args);
            sent.push({ user: self.user, password: value });
            return value;
          };
        }
      };
      const both = Promise.all([app.pool.query('SELECT 1'), app.pool.query('SELECT current_user AS u')]);
      await sleep(300);
      open();
      const [, second] = await both;
      expect(second.rows[0].u).toBe(b);
      expect(sent.filter((login) => login.user === a && login.password === 'pw-B')).toEqual([]);
    } finally {
      await app.close();
    }
  });

  it("after a rotation, shutdown still waits for (and then closes) the previous generation's sockets", async () => {
    const authority = await newRole(db, 60_000);
    // A relay that can be frozen like a network partition: nothing forwarded, no FIN passed on.
    const sockets = new Set<Socket>();
    let frozen = false;
    const relay = createServer({ allowHalfOpen: true }, (client) => {
      const upstream = connect(db.port, '127.0.0.1');
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => sockets.delete(socket));
      }
      client.on('data', (data) => void (frozen || upstream.write(data)));
      upstream.on('data', (data) => void (frozen || client.write(data)));
      client.on('end', () => void (frozen || upstream.end()));
      upstream.on('end', () => void (frozen || client.end()));
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const app = await bootPool(db, { credential: authority, port: (relay.address() as AddressInfo).port, pool: { max: 2 }, drainTimeoutMs: 0 });
    try {
      await Promise.all([app.pool.query('SELECT pg_sleep(0.05)'), app.pool.query('SELECT pg_sleep(0.05)')]);
      const old = (app.pool as unknown as { generations: { active: { sockets: Set<{ connection: { stream: { destroyed: boolean } } }> } } }).generations.active;
      frozen = true;
      await (app.pool as EntraPgPool).rotate();
      await sleep(20);
      // Still open, so still counted against pool.max.
      expect(old.sockets.size).toBe(2);
      expect(app.pool.totalCount + old.sockets.size).toBeLessThanOrEqual(2);
      await (app.pool as EntraPgPool).shutdown(0);
      expect([...old.sockets].filter((client) => !client.connection.stream.destroyed)).toHaveLength(0);
    } finally {
      for (const socket of sockets) socket.destroy();
      relay.close();
      await app.close();
      await authority.close();
    }
  });
});
