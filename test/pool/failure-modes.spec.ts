import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import QueryStream from 'pg-query-stream';
import { EntraPgCredentialError, EntraPgLoginRefusedError, EntraPgShutdownError } from '../../lib/index.js';
import type { EntraAccessToken, EntraTokenCredential } from '../../lib/interfaces/token-credential.interface.js';
import type { EntraPgPool } from '../../lib/pool/entra-pg.pool.js';
import { LogCapture } from '../support/log-capture.js';
import { bootPool, newRole, sleep, vaultSource } from '../support/harness.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

/** Resolves to 'pending' when the promise has not settled within `ms`. */
function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([promise, sleep(ms).then(() => 'pending' as const)]);
}

/** A credential that passes through to `inner` until `hang` is set; then getToken never answers. */
class HangableCredential implements EntraTokenCredential {
  hang = false;
  requests = 0;
  signals: AbortSignal[] = [];
  constructor(private readonly inner: EntraTokenCredential) {}
  getToken(scopes: string | string[], options?: { abortSignal?: AbortSignal }): Promise<EntraAccessToken | null> {
    this.requests += 1;
    if (options?.abortSignal) this.signals.push(options.abortSignal);
    return this.hang ? new Promise(() => undefined) : this.inner.getToken(scopes, options);
  }
}

/** A TCP server on 127.0.0.1 that accepts connections and never answers: a login that never ends. */
async function silentServer(): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    // Reading lets 'close' follow the client's FIN.
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

describe('failure modes: hangs, shutdown, refused logins', () => {
  let db: TestPostgres;
  beforeAll(async () => {
    db = await startPostgres();
  });
  afterAll(() => db.stop());
  beforeEach(() => {
    LogCapture.install();
  });

  it('a token request that never answers: callers needing a login settle within connectionTimeoutMillis, close() leaves nothing pending', async () => {
    const authority = await newRole(db, 1_500);
    const credential = new HangableCredential(authority);
    const app = await bootPool(db, {
      credential,
      pool: { max: 4, connectionTimeoutMillis: 800, idleTimeoutMillis: 100 },
      refresh: { timeoutMs: 60_000 },
    });
    try {
      credential.hang = true;
      await sleep(1_700); // the token expired; the idle connections closed
      expect(app.pool.totalCount).toBe(0);
      const started = Date.now();
      const results = await Promise.all(
        Array.from({ length: 6 }, () => settledWithin(app.pool.query('SELECT 1').catch((e: unknown) => e), 3_000)),
      );
      expect(results.every((r) => r instanceof EntraPgCredentialError)).toBe(true);
      expect((results[0] as Error).message).toMatch(/connectionTimeoutMillis \(800 ms\)/);
      expect(Date.now() - started).toBeLessThan(2_500);
      const late = app.pool.query('SELECT 1').catch((e: unknown) => e);
      const closed = await settledWithin(app.close(), 5_000);
      expect(closed).not.toBe('pending');
      expect(await settledWithin(late, 100)).toBeInstanceOf(Error);
      expect(credential.signals.at(-1)?.aborted).toBe(true);
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('without connectionTimeoutMillis, shutdown still answers callers waiting on a hung token request', async () => {
    const authority = await newRole(db, 60_000);
    const credential = new HangableCredential(authority);
    credential.hang = true;
    const app = await bootPool(db, { credential, lazyConnect: true, pool: { max: 2 } });
    const waiting = Array.from({ length: 5 }, () => app.pool.query('SELECT 1').catch((e: unknown) => e));
    await sleep(100);
    expect(await settledWithin(app.close(), 5_000)).not.toBe('pending');
    const answers = await Promise.all(waiting.map((p) => settledWithin(p, 100)));
    expect(answers.every((a) => a instanceof EntraPgShutdownError)).toBe(true);
    await authority.close();
  });

  it('shutdown answers every caller of a burst that arrived in the same tick as one idle connection', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 1 } });
    expect(app.pool.idleCount).toBe(1);
    const burst = [
      ...Array.from({ length: 10 }, () => app.pool.query('SELECT 1').catch((e: unknown) => e)),
      ...Array.from({ length: 5 }, () => app.pool.connect().then((c) => (c.release(), 'client'), (e: unknown) => e)),
    ];
    const closing = app.close();
    const answers = await Promise.all(burst.map((p) => settledWithin(p, 3_000)));
    expect(answers.filter((a) => a === 'pending')).toEqual([]);
    await closing;
    expect(await db.backends(authority.role)).toBe(0);
    await authority.close();
  });

  it('closes a login still in progress before shutdown resolves', async () => {
    const silent = await silentServer();
    const app = await bootPool(db, { host: '127.0.0.1', port: silent.port, password: 'x', user: 'u', lazyConnect: true });
    try {
      const query = app.pool.query('SELECT 1').catch((e: unknown) => e);
      // Bounded: the socket reaches the server within a second.
      for (let i = 0; i < 100 && silent.sockets.size === 0; i += 1) await sleep(10);
      expect(silent.sockets.size).toBe(1);
      expect(await settledWithin(app.close(), 8_000)).not.toBe('pending');
      expect(await settledWithin(query, 100)).toBeInstanceOf(EntraPgShutdownError);
      for (let i = 0; i < 100 && silent.sockets.size > 0; i += 1) await sleep(10);
      expect(silent.sockets.size).toBe(0);
    } finally {
      await app.close();
      silent.server.close();
    }
  });

  it('end() waits the configured drainTimeoutMs, not a fixed 10 s, and rotate() after shutdown is refused', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 2 }, drainTimeoutMs: 300, consumerEnd: 'shutdown' });
    const client = await app.pool.connect();
    const started = Date.now();
    expect(await settledWithin(app.pool.end(), 4_000)).not.toBe('pending');
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(() => client.release()).not.toThrow();
    await expect((app.pool as EntraPgPool).rotate()).rejects.toBeInstanceOf(EntraPgShutdownError);
    await app.close();
    await authority.close();
  });

  it('a login the server keeps refusing gets one forced refresh, then a clear error per caller, not a token storm', async () => {
    const authority = await newRole(db, 60_000, () => ({ upn: 'no_such_role' }));
    const app = await bootPool(db, { credential: authority, lazyConnect: true, pool: { max: 5 } });
    try {
      for (let round = 0; round < 3; round += 1) {
        const answers = await Promise.all(Array.from({ length: 20 }, () => app.pool.query('SELECT 1').catch((e: unknown) => e)));
        expect(answers.every((a) => a instanceof EntraPgLoginRefusedError)).toBe(true);
        expect(answers[0]).toMatchObject({ code: 'ENTRA_PG_LOGIN_REFUSED', sqlState: '28P01' });
        expect((answers[0] as Error).message).toMatch(/refused the login of "default" as "no_such_role" even with a freshly fetched Entra token/);
        await sleep(300);
      }
      // The first token, one forced refresh, and at most one more after the backoff.
      expect(authority.requests).toBeLessThanOrEqual(3);
    } finally {
      await app.close();
      await authority.close();
    }
  });

  /** A vault whose first secret expires in 1.5 s and which fails from then on. */
  async function expiringVault(password: string) {
    const role = `outage_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    await db.createRole(role);
    await db.adminPool.query(`ALTER ROLE ${role} PASSWORD '${password}'`);
    let calls = 0;
    const source = {
      async getCredentials() {
        calls += 1;
        if (calls > 1) throw new Error('vault down');
        return { user: role, password, expiresAt: new Date(Date.now() + 1_500) };
      },
    };
    return { role, source };
  }
  const clientBackends = async () =>
    (await db.adminPool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend'")).rows[0]!.n;

  it('during an outage, queued callers wait for the warm connections instead of opening sockets without a password', async () => {
    const { source } = await expiringVault('pw-queue');
    const app = await bootPool(db, { source: vaultSource(source), pool: { max: 2 } });
    try {
      const c1 = await app.pool.connect();
      const c2 = await app.pool.connect();
      await sleep(1_700); // expired, refresh failing
      const before = await clientBackends();
      const queued = Array.from({ length: 30 }, () => app.pool.query('SELECT 1').then(() => 'ok', (e: unknown) => e));
      await sleep(50);
      c1.release(new Error('recycled')); // a slot frees: pg-pool would log in for the next queued caller
      await sleep(100);
      // No login was attempted: it could only fail, or leave a half-open socket behind.
      expect(await clientBackends()).toBeLessThanOrEqual(before - 1);
      c2.release(); // the warm connection left serves the whole queue
      const results = await Promise.all(queued.map((p) => settledWithin(p, 5_000)));
      expect(results.filter((r) => r !== 'ok')).toEqual([]);
      expect(await clientBackends()).toBeLessThanOrEqual(before - 1);
    } finally {
      await app.close();
    }
  });

  it('during an outage, with no warm connection left, queued callers fail fast instead of waiting', async () => {
    const { source } = await expiringVault('pw-none');
    const app = await bootPool(db, { source: vaultSource(source), pool: { max: 1 } });
    try {
      const only = await app.pool.connect();
      await sleep(1_700);
      const queued = Array.from({ length: 10 }, () => app.pool.query('SELECT 1').then(() => 'ok', (e: unknown) => e));
      await sleep(50);
      only.release(new Error('broken')); // the last warm connection goes
      const results = await Promise.all(queued.map((p) => settledWithin(p, 3_000)));
      expect(results.every((r) => r instanceof EntraPgCredentialError)).toBe(true);
    } finally {
      await app.close();
    }
  });

  it('during an outage, callers of one tick that all saw one idle connection open no half-open login', async () => {
    const { source } = await expiringVault('pw-tick');
    const app = await bootPool(db, { source: vaultSource(source), pool: { max: 5, idleTimeoutMillis: 60_000 } });
    try {
      await sleep(1_700);
      const before = await clientBackends();
      const results = await Promise.allSettled(Array.from({ length: 4 }, () => app.pool.query('SELECT pg_sleep(0.2)')));
      expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(1);
      await sleep(300);
      expect(await clientBackends()).toBe(before);
    } finally {
      await app.close();
    }
  });

  it('a stream destroyed while it waits for a client never holds one', async () => {
    const authority = await newRole(db, 60_000);
    const app = await bootPool(db, { credential: authority, pool: { max: 1 } });
    try {
      const held = await app.pool.connect();
      const stream = app.pool.query(new QueryStream('SELECT generate_series(1, 100000) AS n', [], { batchSize: 10 }));
      stream.on('error', () => undefined);
      stream.destroy();
      await sleep(50);
      held.release();
      expect(await settledWithin(app.pool.query('SELECT 1 AS n'), 3_000)).toMatchObject({ rows: [{ n: 1 }] });
    } finally {
      await app.close();
      await authority.close();
    }
  });

  it('a login refused while the secret source hangs still settles within connectionTimeoutMillis', async () => {
    const role = `refused_${process.pid}`;
    await db.createRole(role);
    await db.adminPool.query(`ALTER ROLE ${role} PASSWORD 'pw-1'`);
    let calls = 0;
    const source = {
      getCredentials(options?: { abortSignal?: AbortSignal }) {
        calls += 1;
        if (calls === 1) return Promise.resolve({ user: role, password: 'pw-1', expiresAt: new Date(Date.now() + 3_600_000) });
        return new Promise<never>((_, reject) => options?.abortSignal?.addEventListener('abort', () => reject(new Error('aborted'))));
      },
    };
    const app = await bootPool(db, { source: vaultSource(source), pool: { max: 2, connectionTimeoutMillis: 1_000 }, refresh: { timeoutMs: 8_000 } });
    try {
      const held = await app.pool.connect(); // the next query must log in
      await db.adminPool.query(`ALTER ROLE ${role} PASSWORD 'pw-2'`); // rotated behind our back
      const started = Date.now();
      const outcome = await app.pool.query('SELECT 1').catch((e: unknown) => e);
      expect(outcome).toBeInstanceOf(EntraPgCredentialError);
      expect(Date.now() - started).toBeLessThan(2_500);
      held.release();
    } finally {
      await app.close();
    }
  });
});
