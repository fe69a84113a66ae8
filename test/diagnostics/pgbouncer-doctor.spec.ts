import { diagnose } from '../../lib/diagnostics/index.js';
import { resolveOptions } from '../../lib/options/resolve-options.js';
import type { EntraTokenCredential } from '../../lib/interfaces/token-credential.interface.js';
import { newRole } from '../support/harness.js';
import { type PgBouncer, requirePgBouncer } from '../support/pgbouncer.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

/** The doctor in front of Debian's real PgBouncer (SCRAM pass-through, as test/pool/pgbouncer.spec.ts sets it up). */
describe('diagnose() through PgBouncer', () => {
  let db: TestPostgres;
  let bouncer: PgBouncer;
  beforeAll(async () => {
    db = await startPostgres();
    bouncer = await requirePgBouncer(db);
  }, 60_000);
  afterAll(async () => {
    await bouncer?.stop();
    await db?.stop();
  });

  it('names PgBouncer as the one refusing a token it does not know, with its own text', async () => {
    const authority = await newRole(db, 60_000, (role) => ({ upn: role }));
    try {
      const { token } = await authority.getToken();
      // The role's password moves on (a rotation elsewhere); the stale token still reaches PgBouncer.
      await authority.revoke();
      const stale: EntraTokenCredential = { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 60_000 }) };
      const options = resolveOptions({ host: bouncer.host, port: bouncer.port, database: 'postgres' }, 'doctor', {});
      const login = (await diagnose(options, { credential: stale, env: {} })).checks.find((check) => check.id === 'login')!;
      expect([login.status, login.cause, login.sqlState, login.serverMessage]).toEqual(['fail', 'pgbouncer-refused', '08P01', 'SASL authentication failed']);
      expect(login.fix).toContain('auth_query');
    } finally {
      await authority.close();
    }
  });
});
