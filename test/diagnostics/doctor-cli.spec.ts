import { DOCTOR_EXIT, runDoctor } from '../../lib/cli/doctor.js';
import { LocalEntraLogin, type LocalTokenAuthority } from '../../lib/testing/index.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

describe('nestjs-entra-pg doctor (in process)', () => {
  let db: TestPostgres;
  let front: LocalEntraLogin;
  let authority: LocalTokenAuthority;

  beforeAll(async () => {
    db = await startPostgres();
    front = await LocalEntraLogin.start({ admin: db.admin });
    await db.createRole('cli-identity');
    authority = front.authority({ role: 'cli-identity', identity: 'user-assigned' });
  }, 60_000);
  afterAll(async () => {
    await authority?.close();
    await front?.close();
    await db?.stop();
  });

  const doctor = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const out: string[] = [];
    const code = await runDoctor(args, {
      env: { NODE_ENV: 'development', PGHOST: front.host, PGPORT: String(front.port), ...env },
      deps: { credential: authority },
      print: (text) => out.push(text),
    });
    return { code, out: out.join('\n') };
  };

  it('prints a checklist and exits 0 when the login works', async () => {
    const { code, out } = await doctor([]);
    expect(code).toBe(DOCTOR_EXIT.loginWorks);
    expect(out).toMatch(/^✓ login {8}logged in to postgres as "cli-identity"$/m);
    expect(out).toMatch(/^✓ token .*identity cli-identity \(user-assigned identity\); token type Bearer; xms_mirid \/subscriptions\/.*\/userAssignedIdentities\/cli-identity;/m);
    expect(out.split('\n').at(-1)).toBe('Login works.');
  });

  it('prints the failure, the server\'s text and the fix, and exits 1, for a wrong role name', async () => {
    const { code, out } = await doctor(['--user', 'cli-typo']);
    expect(code).toBe(DOCTOR_EXIT.checkFailed);
    expect(out).toContain('✗ login        refused as "cli-typo"');
    expect(out).toContain('    server said: 28P01 password authentication failed for user "cli-typo"');
    expect(out).toContain('    fix: set PGUSER (or `user`) to "cli-identity"');
  });

  it('--json prints the documented schema: schemaVersion, ok, and the eight checks in order', async () => {
    const { code, out } = await doctor(['--json', '--database', 'no_such_db']);
    const json = JSON.parse(out) as { schemaVersion: number; ok: boolean; checks: Record<string, unknown>[] };
    expect(code).toBe(DOCTOR_EXIT.checkFailed);
    expect([json.schemaVersion, json.ok]).toEqual([1, false]);
    expect(json.checks.map((c) => c.id)).toEqual(['configuration', 'dns', 'tcp', 'tls', 'credential', 'token', 'login', 'after-login']);
    expect(json.checks[6]).toMatchObject({ id: 'login', status: 'fail', cause: 'database-missing', sqlState: '3D000', serverMessage: 'database "no_such_db" does not exist' });
    for (const check of json.checks) expect(Object.keys(check).every((key) => ['id', 'status', 'found', 'fix', 'docs', 'cause', 'serverMessage', 'sqlState'].includes(key))).toBe(true);
  });

  it('reports options that cannot work as a failed configuration check', async () => {
    const { code, out } = await doctor([], { PGHOST: '', PGPORT: '' });
    expect(code).toBe(DOCTOR_EXIT.checkFailed);
    expect(out).toMatch(/^✗ configuration .*no PostgreSQL host: set the `host` option, a connectionString, or PGHOST/);
  });

  it('exits 2 on a wrong command line, 0 on --help', async () => {
    expect((await doctor(['--bogus'])).code).toBe(DOCTOR_EXIT.usage);
    expect((await doctor(['--port', 'five'])).code).toBe(DOCTOR_EXIT.usage);
    expect((await doctor(['--ssl-ca', '/nonexistent/ca.pem'])).code).toBe(DOCTOR_EXIT.usage);
    const help = await doctor(['--help']);
    expect([help.code, help.out.split('\n')[0]]).toEqual([0, 'Usage: nestjs-entra-pg doctor [options]']);
  });
});
