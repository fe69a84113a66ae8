import type { EntraPgModuleOptions } from '../../lib/interfaces/entra-pg-options.interface.js';
import { diagnose, type Diagnosis, type DiagnosisCheck } from '../../lib/diagnostics/index.js';
import { EntraPgLoginRefusedError } from '../../lib/entra-pg.errors.js';
import { resolveOptions } from '../../lib/options/resolve-options.js';
import { type EntraIdentityKind, LOCAL_TENANT_ID, LocalEntraLogin, type LocalTokenAuthority, entraIdentityClaims } from '../../lib/testing/index.js';
import { bootPool } from '../support/harness.js';
import { freePort, startPostgres, type TestPostgres } from '../support/postgres.js';

const UAMI = 'orders-api-identity';
const check = (diagnosis: Diagnosis, id: DiagnosisCheck['id']) => diagnosis.checks.find((c) => c.id === id)!;

describe('diagnose() against LocalEntraLogin and a real PostgreSQL', () => {
  let db: TestPostgres;
  let front: LocalEntraLogin;
  let tlsFront: LocalEntraLogin;
  const authorities: LocalTokenAuthority[] = [];
  let roleCount = 0;

  beforeAll(async () => {
    db = await startPostgres();
    front = await LocalEntraLogin.start({ admin: db.admin, tenantId: LOCAL_TENANT_ID });
    tlsFront = await LocalEntraLogin.start({ admin: db.admin, tls: true, requireTls: true });
  }, 60_000);
  afterAll(async () => {
    for (const authority of authorities) await authority.close();
    await front?.close();
    await tlsFront?.close();
    await db?.stop();
  });

  /** A role for an identity of `kind` named `name`, and an authority minting its tokens through `via`. */
  const identity = async (kind: EntraIdentityKind, options: { audience?: string; tenantId?: string; via?: LocalEntraLogin; cacheForMs?: number } = {}) => {
    roleCount += 1;
    const role = `${kind === 'user' ? 'dev' : UAMI}-${roleCount}${kind === 'user' ? '@contoso.test' : ''}`;
    await db.createRole(role);
    const authority = (options.via ?? front).authority({
      role,
      claims: entraIdentityClaims(kind, role, options),
      cacheForMs: options.cacheForMs,
    });
    authorities.push(authority);
    return { role, authority };
  };
  const run = (options: Partial<EntraPgModuleOptions>, credential: LocalTokenAuthority, env: NodeJS.ProcessEnv = { NODE_ENV: 'development' }, via = front) =>
    diagnose(resolveOptions({ host: via.host, port: via.port, database: 'postgres', ...options }, 'doctor', env), { credential, env, timeoutMs: 5_000 });
  const expectCause = (diagnosis: Diagnosis, cause: string) => {
    const login = check(diagnosis, 'login');
    expect({ status: login.status, cause: login.cause, ok: diagnosis.ok }).toEqual({ status: 'fail', cause, ok: false });
    expect(login.fix).not.toBe('');
    expect(login.serverMessage).toBeTruthy();
    return login;
  };

  it('passes every check for a healthy user-assigned identity over verified TLS', async () => {
    const { role, authority } = await identity('user-assigned', { via: tlsFront });
    const diagnosis = await run({ ssl: { ca: tlsFront.certificate! } }, authority, { NODE_ENV: 'development' }, tlsFront);
    expect(diagnosis.checks.map((c) => `${c.id}:${c.status}`)).toEqual(
      ['configuration', 'dns', 'tcp', 'tls', 'credential', 'token', 'login', 'after-login'].map((id) => `${id}:ok`),
    );
    expect(diagnosis.ok).toBe(true);
    expect(check(diagnosis, 'after-login').found).toContain(`current_user ${role}; PostgreSQL`);
    expect(check(diagnosis, 'token').found).toContain('(user-assigned identity)');
  });

  it('1. wrong role name: the token is for another identity', async () => {
    const { authority } = await identity('user-assigned');
    const { role: other } = await identity('user-assigned');
    const diagnosis = await run({ user: other }, authority);
    expect(check(diagnosis, 'token').status).toBe('warn');
    expect(expectCause(diagnosis, 'role-name-mismatch').fix).toContain(`set PGUSER (or \`user\`) to "${authority.role}"`);
  });

  it('2. a token for another resource: Azure\'s audience text', async () => {
    const { authority } = await identity('user-assigned', { audience: 'https://management.azure.com' });
    const login = expectCause(await run({}, authority), 'wrong-audience');
    expect(login.serverMessage).toContain('does not have a valid audience claim');
  });

  it('3. a managed identity logging in under a role mapped as a user', async () => {
    const { role, authority } = await identity('user-assigned');
    front.mapRole(role, 'user');
    const login = expectCause(await run({}, authority), 'service-principal-as-user-role');
    expect(login.serverMessage).toBe(`Service Principals cannot generate AAD_AUTH_TOKENTYPE_APP_USER tokens for role[${role}]`);
  });

  it('4. the system-assigned identity used where the user-assigned one was meant (AZURE_CLIENT_ID unset)', async () => {
    const { authority } = await identity('system-assigned');
    const { role: uami } = await identity('user-assigned');
    const diagnosis = await run({ user: uami }, authority, { NODE_ENV: 'development' });
    expect(expectCause(diagnosis, 'system-assigned-instead-of-user-assigned').fix).toContain('AZURE_CLIENT_ID');
  });

  it('5. a token from another tenant', async () => {
    const { authority } = await identity('user-assigned', { tenantId: '99999999-0000-4000-8000-000000000000' });
    const diagnosis = await run({}, authority, { NODE_ENV: 'development', AZURE_TENANT_ID: LOCAL_TENANT_ID });
    expect(expectCause(diagnosis, 'wrong-tenant').found).toContain('99999999-0000-4000-8000-000000000000');
  });

  it('6. TLS off against a server that requires it: PostgreSQL\'s "no encryption" text', async () => {
    const { authority } = await identity('user-assigned', { via: tlsFront });
    const login = expectCause(await run({}, authority, { NODE_ENV: 'development' }, tlsFront), 'tls-off');
    expect(login.serverMessage).toMatch(/^no pg_hba\.conf entry for host "127\.0\.0\.1", user ".+", database "postgres", no encryption$/);
    expect(login.sqlState).toBe('28000');
  });

  it('7. a revoked token the identity service still hands out', async () => {
    const { authority } = await identity('user-assigned', { cacheForMs: 60_000 });
    await authority.getToken();
    await authority.revoke();
    // revoke() forgets the cached token; hand the revoked one out again, as a stale cache would.
    const stale = authority.tokens.at(-1)!;
    const staleCredential = Object.assign(Object.create(authority) as LocalTokenAuthority, {
      getToken: async () => ({ token: stale, expiresOnTimestamp: Date.now() + 60_000 }),
    });
    expectCause(await run({}, staleCredential), 'role-not-entra');
  });

  it('8. an unknown role for a service principal (no name in its token)', async () => {
    const { authority } = await identity('service-principal');
    const diagnosis = await run({ user: 'no-such-role' }, authority);
    expect(check(diagnosis, 'token').found).toContain('(application)');
    expect(expectCause(diagnosis, 'role-not-entra').fix).toContain("pgaadauth_create_principal('no-such-role'");
  });

  it('9. Entra authentication disabled on the server', async () => {
    const { role, authority } = await identity('workload-identity');
    front.entraAuthentication = false;
    try {
      expectCause(await run({ user: role }, authority), 'role-not-entra');
    } finally {
      front.entraAuthentication = true;
    }
  });

  it('10. the database does not exist (the real server\'s 3D000)', async () => {
    const { authority } = await identity('user-assigned');
    const login = expectCause(await run({ database: 'no_such_db' }, authority), 'database-missing');
    expect(login.serverMessage).toBe('database "no_such_db" does not exist');
  });

  it('11. no CONNECT privilege on the database (the real server\'s 42501)', async () => {
    const { authority } = await identity('user-assigned');
    await db.adminPool.query('CREATE DATABASE doctor_locked');
    await db.adminPool.query('REVOKE CONNECT ON DATABASE doctor_locked FROM PUBLIC');
    const login = expectCause(await run({ database: 'doctor_locked' }, authority), 'no-connect-privilege');
    expect(login.serverMessage).toMatch(/^permission denied for database "doctor_locked"$/);
    expect(login.fix).toBe(`GRANT CONNECT ON DATABASE doctor_locked TO "${authority.role}";`);
  });

  it('12. too many connections for the role (the real server\'s 53300)', async () => {
    const { role, authority } = await identity('user-assigned');
    await db.adminPool.query(`ALTER ROLE "${role}" CONNECTION LIMIT 0`);
    const login = expectCause(await run({}, authority), 'too-many-connections');
    expect(login.serverMessage).toBe(`too many connections for role "${role}"`);
  });

  it('13. an expired token stops the diagnosis at the token check', async () => {
    const { authority } = await identity('user-assigned');
    authority.lifetimeMs = -120_000;
    const diagnosis = await run({}, authority);
    expect([check(diagnosis, 'token').status, check(diagnosis, 'login').status]).toEqual(['fail', 'skipped']);
    expect(check(diagnosis, 'token').fix).toContain('expired');
  });

  it('14. nothing listens on the port: the TCP check fails and nothing after it runs', async () => {
    const { authority } = await identity('user-assigned');
    const diagnosis = await diagnose(resolveOptions({ host: '127.0.0.1', port: await freePort() }, 'doctor', {}), { credential: authority, env: {} });
    expect(diagnosis.checks.map((c) => c.status)).toEqual(['ok', 'ok', 'fail', 'skipped', 'skipped', 'skipped', 'skipped', 'skipped']);
    expect(authority.requests).toBe(0);
  });

  it('15. a CA that did not sign the server\'s certificate', async () => {
    const { authority } = await identity('user-assigned', { via: tlsFront });
    const diagnosis = await run({ ssl: { ca: await otherCa() } }, authority, { NODE_ENV: 'development' }, tlsFront);
    expect(check(diagnosis, 'tls').status).toBe('fail');
    expect(check(diagnosis, 'tls').fix).toContain('ssl: { ca }');
  });

  it('16. a user\'s token in production and a clock 10 minutes behind are warned about', async () => {
    const { authority } = await identity('user');
    const env = { NODE_ENV: 'production' };
    const diagnosis = await diagnose(resolveOptions({ host: front.host, port: front.port, allowInsecureTransport: true }, 'doctor', env), {
      credential: authority,
      env,
      now: () => Date.now() - 10 * 60_000,
    });
    const token = check(diagnosis, 'token');
    expect(token.status).toBe('warn');
    expect(token.fix).toContain("a user's token in production");
    expect(token.fix).toContain('clock is 10 min off');
    expect(diagnosis.ok).toBe(true);
  });

  it('17. a credential that never answers fails the credential check within the timeout', async () => {
    const silent = { getToken: () => new Promise<never>(() => undefined) };
    const started = Date.now();
    const diagnosis = await diagnose(resolveOptions({ host: front.host, port: front.port }, 'doctor', {}), { credential: silent, env: {}, timeoutMs: 300 });
    expect([check(diagnosis, 'credential').status, check(diagnosis, 'credential').found]).toEqual(['fail', 'no secret: Error: no token within 300 ms']);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('18. a scope without /.default is warned about before any token is asked for', async () => {
    const { authority } = await identity('user-assigned');
    const diagnosis = await run({ scope: 'https://ossrdbms-aad.database.windows.net' }, authority);
    const configuration = check(diagnosis, 'configuration');
    expect([configuration.status, configuration.docs]).toEqual(['warn', 'https://github.com/MicrosoftDocs/azure-docs/issues/113101']);
    expect(configuration.fix).toContain('"/.default"');
  });

  it('runs from a booted app\'s own connection: EntraPgConnection.diagnose()', async () => {
    const { role, authority } = await identity('user-assigned');
    const harness = await bootPool(db, { host: front.host, port: front.port, credential: authority });
    try {
      const diagnosis = await harness.connection.diagnose({ env: { NODE_ENV: 'development' } });
      expect([diagnosis.ok, check(diagnosis, 'after-login').found]).toEqual([true, expect.stringContaining(`current_user ${role};`)]);
      expect(check(diagnosis, 'credential').found).toMatch(/^Entra token from /);
    } finally {
      await harness.close();
    }
  });

  it('the boot error carries the cause and fix, and no token', async () => {
    const { authority } = await identity('user-assigned');
    const { role: other } = await identity('user-assigned');
    const error = await bootPool(db, { host: front.host, port: front.port, user: other, credential: authority }).catch((e: unknown) => e);
    const refused = (error as Error).cause as EntraPgLoginRefusedError;
    expect(refused).toBeInstanceOf(EntraPgLoginRefusedError);
    expect(refused.message).toContain(`Likely cause (role-name-mismatch): the login is as "${other}" but the token is for "${authority.role}"`);
    for (const token of authority.tokens) expect(`${(error as Error).message}${refused.message}`).not.toContain(token);
  });
});

async function otherCa(): Promise<string> {
  const { createSelfSignedCertificate } = await import('../../lib/testing/self-signed-certificate.js');
  return (await createSelfSignedCertificate()).cert;
}
