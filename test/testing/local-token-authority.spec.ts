import pg from 'pg';
import { decodeJwtPayload } from '../../lib/sources/entra-token-claims.js';
import { LocalTokenAuthority, ManagedIdentityEmulator } from '../../lib/testing/index.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

describe('LocalTokenAuthority', () => {
  let db: TestPostgres;
  beforeAll(async () => {
    db = await startPostgres();
    await db.createRole('authority_user');
  });
  afterAll(() => db.stop());

  const login = async (password: string) => {
    const client = new pg.Client({ host: db.host, port: db.port, user: 'authority_user', password, database: 'postgres' });
    try {
      await client.connect();
      return 'ok';
    } catch (error) {
      return (error as { code?: string }).code;
    } finally {
      await client.end().catch(() => undefined);
    }
  };

  it('mints JWT-shaped tokens that work as the password until VALID UNTIL, while sessions outlive them', async () => {
    const authority = new LocalTokenAuthority({ admin: db.admin, role: 'authority_user', lifetimeMs: 1_500 });
    try {
      const token = await authority.getToken();
      expect(decodeJwtPayload(token.token)).toMatchObject({ upn: 'authority_user', exp: Math.floor(token.expiresOnTimestamp / 1000) });
      expect(await login(token.token)).toBe('ok');
      const session = new pg.Client({ host: db.host, port: db.port, user: 'authority_user', password: token.token, database: 'postgres' });
      await session.connect();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, token.expiresOnTimestamp - Date.now()) + 300));
      expect(await login(token.token)).toBe('28P01');
      expect((await session.query('SELECT 1 AS n')).rows[0].n).toBe(1); // established session lives on
      await session.end();
    } finally {
      await authority.close();
    }
  });

  it('retires the previous token on each mint, reuses within cacheForMs, and has outage, latency and revocation switches', async () => {
    const authority = new LocalTokenAuthority({ admin: db.admin, role: 'authority_user', lifetimeMs: 60_000, cacheForMs: 300 });
    try {
      const first = await authority.getToken();
      expect((await authority.getToken()).token).toBe(first.token); // cached
      await new Promise((resolve) => setTimeout(resolve, 350));
      const second = await authority.getToken();
      expect(second.token).not.toBe(first.token);
      expect(await login(first.token)).toBe('28P01');
      expect(await login(second.token)).toBe('ok');
      expect([authority.requests, authority.issued]).toEqual([3, 2]);
      await authority.revoke();
      expect(await login(second.token)).toBe('28P01');
      authority.outage = true;
      await expect(authority.getToken()).rejects.toThrow(/simulated outage/);
      authority.outage = false;
      authority.latencyMs = 200;
      const started = Date.now();
      await authority.getToken();
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    } finally {
      await authority.close();
    }
  });

  it('keeps a bounded list of tokens, forgetting expired ones first', async () => {
    const authority = new LocalTokenAuthority({ admin: db.admin, role: 'authority_user', lifetimeMs: 60_000, keepTokens: 3 });
    try {
      const mint = async (lifetimeMs: number) => {
        authority.lifetimeMs = lifetimeMs;
        const { token, expiresOnTimestamp } = await authority.getToken();
        return { token, expiresOnTimestamp };
      };
      const t1 = await mint(60_000);
      const t2 = await mint(1);
      const t3 = await mint(1);
      while (Date.now() <= t3.expiresOnTimestamp) await new Promise((resolve) => setImmediate(resolve));
      const t4 = await mint(60_000);
      expect(authority.tokens).toEqual([t1.token, t3.token, t4.token]);
      const t5 = await mint(60_000);
      expect(authority.tokens).toEqual([t1.token, t4.token, t5.token]);
      const t6 = await mint(60_000);
      expect(authority.tokens).toEqual([t4.token, t5.token, t6.token]);
      expect(authority.tokens).not.toContain(t2.token);
    } finally {
      await authority.close();
    }
  });

  it('backs the App Service managed-identity protocol and rejects a wrong identity header', async () => {
    const authority = new LocalTokenAuthority({ admin: db.admin, role: 'authority_user', lifetimeMs: 60_000 });
    const emulator = await ManagedIdentityEmulator.start({ authority });
    try {
      const url = `${emulator.endpoint}?api-version=2019-08-01&resource=${encodeURIComponent('https://ossrdbms-aad.database.windows.net')}`;
      const ok = await fetch(url, { headers: { 'x-identity-header': emulator.identityHeader } });
      const body = (await ok.json()) as Record<string, string>;
      expect(body).toMatchObject({ token_type: 'Bearer', resource: 'https://ossrdbms-aad.database.windows.net' });
      expect(Number(body.expires_on) * 1000).toBeGreaterThan(Date.now());
      expect(await login(body.access_token!)).toBe('ok');
      expect((await fetch(url, { headers: { 'x-identity-header': 'wrong' } })).status).toBe(401);
      expect([emulator.served, emulator.rejected]).toEqual([1, 1]);
    } finally {
      await emulator.close();
      await authority.close();
    }
  });
});
