import { loginRefusedHint } from '../../lib/diagnostics/boot-hint.js';
import { LOGIN_CAUSES, type LoginFailure, explainLoginFailure } from '../../lib/diagnostics/login-causes.js';
import { checkDns, isPrivateAddress } from '../../lib/diagnostics/network.js';
import { tokenFacts } from '../../lib/diagnostics/token-facts.js';
import { AZURE_LOGIN_ERRORS, type EntraIdentityKind, LOCAL_TENANT_ID, createTestToken, entraIdentityClaims } from '../../lib/testing/index.js';

const NOW = Date.UTC(2026, 11, 4, 12, 0, 0);
const token = (claims: Record<string, unknown>, iat = NOW) =>
  tokenFacts(createTestToken({ iat: iat / 1000, ...claims }, new Date(NOW + 3_600_000)))!;
const uami = (name: string, extra: Record<string, unknown> = {}) => token({ ...entraIdentityClaims('user-assigned', name), ...extra });

function failure(overrides: Partial<LoginFailure>): LoginFailure {
  return {
    code: '28P01',
    message: AZURE_LOGIN_ERRORS.passwordFailed('orders-api'),
    user: 'orders-api',
    database: 'orders',
    port: 5432,
    facts: uami('orders-api'),
    scope: 'https://ossrdbms-aad.database.windows.net/.default',
    expectedTenantId: undefined,
    clientId: undefined,
    now: NOW,
    ...overrides,
  };
}

/** One failure per row, worded as the server words it; each must land on its own row. */
const CASES: Record<string, Partial<LoginFailure>> = {
  'scope-without-default': { message: AZURE_LOGIN_ERRORS.wrongAudience(), scope: 'https://ossrdbms-aad.database.windows.net' },
  'wrong-audience': { message: AZURE_LOGIN_ERRORS.wrongAudience() },
  'service-principal-as-user-role': { message: AZURE_LOGIN_ERRORS.servicePrincipalAsUser('orders-api') },
  'aad-name-not-in-tenant': { code: 'XX000', message: 'Could not validate AAD user 0f9b6c1e-1111-4000-8000-000000000000 because its name is not found in the tenant.' },
  'tls-off': { code: '28000', message: AZURE_LOGIN_ERRORS.noEncryption('10.0.0.4', 'orders-api', 'orders') },
  'no-pg-hba-entry': { code: '28000', message: 'no pg_hba.conf entry for host "10.0.0.4", user "orders-api", database "orders", SSL encryption' },
  'pgbouncer-refused': { code: '08P01', message: 'password authentication failed', port: 6432 },
  'token-expired': { facts: token({ ...entraIdentityClaims('user-assigned', 'orders-api'), exp: (NOW - 60_000) / 1000 }) },
  'clock-skew': { facts: uami('orders-api'), now: NOW - 20 * 60_000 },
  'wrong-tenant': { expectedTenantId: '99999999-0000-4000-8000-000000000000' },
  'system-assigned-instead-of-user-assigned': { facts: token(entraIdentityClaims('system-assigned', 'orders-app')) },
  'role-name-mismatch': { user: 'Orders-API' },
  'role-not-entra': { facts: token(entraIdentityClaims('service-principal', 'orders-sp')) },
  'password-refused': { facts: undefined, message: AZURE_LOGIN_ERRORS.passwordFailed('orders') },
  'database-missing': { code: '3D000', message: 'database "orders" does not exist' },
  'no-connect-privilege': { code: '42501', message: 'permission denied for database "orders"' },
  'too-many-connections': { code: '53300', message: 'sorry, too many clients already' },
  'role-no-login': { code: '28000', message: 'role "orders-api" is not permitted to log in' },
};

describe('the cause table', () => {
  it('has a case here for every row, and every row is reachable', () => {
    expect(Object.keys(CASES).sort()).toEqual(LOGIN_CAUSES.map((row) => row.id).sort());
  });

  it.each(Object.entries(CASES))('%s', (id, overrides) => {
    const explained = explainLoginFailure(failure(overrides));
    expect(explained.id).toBe(id);
    expect(explained.cause.length).toBeGreaterThan(10);
    expect(explained.fix.length).toBeGreaterThan(10);
  });

  it('says what to change with the names involved', () => {
    expect(explainLoginFailure(failure(CASES['role-name-mismatch']!)).fix).toBe(
      'set PGUSER (or `user`) to "orders-api", or remove it so the module takes the name from the token',
    );
    expect(explainLoginFailure(failure({ ...CASES['role-name-mismatch'], clientId: 'c1' })).fix).toContain('or unset AZURE_CLIENT_ID');
    expect(explainLoginFailure(failure(CASES['no-connect-privilege']!)).fix).toBe('GRANT CONNECT ON DATABASE orders TO "orders-api";');
    expect(explainLoginFailure(failure(CASES['pgbouncer-refused']!)).cause).toContain('(port 6432)');
    expect(explainLoginFailure(failure(CASES['wrong-tenant']!)).cause).toContain(LOCAL_TENANT_ID);
  });

  it('keeps an unknown answer unrecognised rather than guessing', () => {
    expect(explainLoginFailure(failure({ code: '57P03', message: 'the database system is starting up' })).id).toBe('unrecognised');
  });

  it('gives the boot error one line from the server error and the token alone', () => {
    const jwt = createTestToken(entraIdentityClaims('user-assigned', 'orders-api'), new Date(Date.now() + 60_000));
    const error = Object.assign(new Error(AZURE_LOGIN_ERRORS.passwordFailed('orders')), { code: '28P01' });
    const hint = loginRefusedHint(error, { database: 'orders', port: 5432 }, 'orders', jwt, { env: {} });
    expect(hint).toBe(
      'Likely cause (role-name-mismatch): the login is as "orders" but the token is for "orders-api" (user-assigned identity); ' +
        'Entra roles are named after the identity, case-sensitively. Fix: set PGUSER (or `user`) to "orders-api", or remove it so the module takes the name from the token.',
    );
    expect(hint).not.toContain(jwt);
  });
});

describe('token facts per identity kind', () => {
  it.each<[EntraIdentityKind, string, string | undefined]>([
    ['system-assigned', 'system-assigned identity', undefined],
    ['user-assigned', 'user-assigned identity', 'orders-api'],
    ['service-principal', 'application', undefined],
    ['workload-identity', 'application', undefined],
    ['user', 'user', 'orders-api'],
  ])('%s', (kind, expected, name) => {
    const facts = token(entraIdentityClaims(kind, 'orders-api'));
    expect([facts.kind, facts.identityName, facts.tenantId]).toEqual([expected, name, LOCAL_TENANT_ID]);
  });
});

describe('DNS check', () => {
  it('classifies addresses as private or public', () => {
    expect(['10.1.2.3', '172.20.0.1', '192.168.1.1', '127.0.0.1', 'fd00::1', '::1', '20.1.2.3', '8.8.8.8'].map(isPrivateAddress)).toEqual([
      true, true, true, true, true, true, false, false,
    ]);
  });

  it('reports what a name resolves to, and a name that does not resolve, without connecting', async () => {
    const resolver = (async (host: string) => {
      if (host === 'missing.postgres.database.azure.com') throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return [{ address: '10.0.0.5', family: 4 }, { address: '20.1.2.3', family: 4 }];
    }) as unknown as Parameters<typeof checkDns>[1];
    const found = await checkDns('orders.postgres.database.azure.com', resolver);
    expect([found.status, found.found]).toEqual(['ok', 'orders.postgres.database.azure.com → 10.0.0.5 (private), 20.1.2.3 (public)']);
    const missing = await checkDns('missing.postgres.database.azure.com', resolver);
    expect(missing.status).toBe('fail');
    expect(missing.fix).toContain('private DNS zone');
  });
});
