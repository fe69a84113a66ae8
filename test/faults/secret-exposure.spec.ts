import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import pg from 'pg';
import { inspect } from 'node:util';
import { runDoctor } from '../../lib/cli/doctor.js';
import { CallbackSource, type EntraPgModuleOptions, EntraTokenSource, StaticPasswordSource } from '../../lib/index.js';
import { bootPool, newRole, vaultSource } from '../support/harness.js';
import { LogCapture } from '../support/log-capture.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

/** Every way an app might print or serialize an object, deepest first. */
function renderings(value: unknown): string[] {
  return [
    inspect(value, { depth: Infinity, showHidden: true, maxArrayLength: null, maxStringLength: null }),
    inspect(value, { depth: 8 }),
    JSON.stringify(value) ?? '',
  ];
}

function expectHidden(value: unknown, secrets: string[]): void {
  for (const text of renderings(value)) {
    expect(text.length).toBeGreaterThan(0);
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/eyJ[\w-]{10,}\.[\w-]{10,}/);
  }
}

/** A user's vault client, holding its own secret next to the one it hands out. */
class VaultClient {
  readonly vaultToken = 'hvs.vault-client-token-0042';
  constructor(private readonly password: string, private readonly user: string) {}
  async getCredentials() {
    return { user: this.user, password: this.password };
  }
}

describe('nothing reachable from PG_POOL, the connection, the refresher or a source prints a secret', () => {
  let db: TestPostgres;
  beforeAll(async () => {
    db = await startPostgres();
  });
  afterAll(() => db.stop());

  let scenarios = 0;
  async function scenario(name: string): Promise<{ options: EntraPgModuleOptions; secrets: () => string[] }> {
    scenarios += 1;
    if (name === 'entra') {
      const authority = await newRole(db, 60_000);
      return { options: { credential: authority }, secrets: () => [...authority.tokens] };
    }
    const role = `exposure_${name}_${scenarios}`;
    await db.createRole(role);
    const password = `pw-${name}-${Math.random().toString(36).slice(2)}`;
    const admin = new pg.Client(db.admin);
    await admin.connect();
    await admin.query(`ALTER ROLE ${pg.escapeIdentifier(role)} PASSWORD ${pg.escapeLiteral(password)}`);
    await admin.end();
    if (name === 'static') return { options: { user: role, password }, secrets: () => [password] };
    const client = new VaultClient(password, role);
    return { options: { source: vaultSource(client) }, secrets: () => [password, client.vaultToken] };
  }

  it.each(['static', 'vault', 'entra'])('with a %s secret, before and after shutdown', async (name) => {
    const logs = LogCapture.install();
    const { options, secrets } = await scenario(name);
    const harness = await bootPool(db, options);
    await harness.pool.query('SELECT 1');
    const logger = new Logger('App');
    const reachable = () => [harness.pool, harness.connection, harness.connection.refresher];
    expect(secrets().length).toBeGreaterThan(0);
    for (const value of reachable()) expectHidden(value, secrets());
    logger.debug(harness.pool);
    logger.log({ pool: harness.pool, connection: harness.connection });
    await harness.close();
    for (const value of reachable()) expectHidden(value, secrets());
    logger.debug(harness.pool);
    expect(logs.lines.some((line) => /EntraPgPool/.test(line.printed))).toBe(true);
    logs.assertNoSecrets(secrets());
  });

  it('sources print what they are, not what they hold', () => {
    const credential = { clientSecret: 'client-secret-Ab12', getToken: async () => null };
    const client = new VaultClient('vault-pw-77', 'u');
    const sources = [
      new StaticPasswordSource('static-pw-99', 'u'),
      new CallbackSource(() => client.getCredentials(), { label: 'vault secret' }),
      new EntraTokenSource(credential, { scope: 'scope/.default', logger: new Logger('x') }),
    ];
    for (const source of sources) expectHidden(source, ['static-pw-99', 'vault-pw-77', client.vaultToken, credential.clientSecret]);
    expect(inspect(sources[0])).toMatch(/StaticPasswordSource/);
  });

  /** The doctor's text and JSON output for the scenario's options, logging in as `user`. */
  async function doctorOutputs(options: EntraPgModuleOptions, user: string | undefined): Promise<{ text: string; json: string; codes: number[] }> {
    const deps =
      options.credential !== undefined
        ? { credential: options.credential }
        : { source: options.source ?? new StaticPasswordSource(options.password!, options.user) };
    const env = { NODE_ENV: 'development', PGHOST: db.host, PGPORT: String(db.port) };
    const out: string[] = [];
    const codes: number[] = [];
    for (const args of [[], ['--json']]) {
      codes.push(await runDoctor([...args, ...(user ? ['--user', user] : [])], { env, deps, print: (text) => out.push(text) }));
    }
    return { text: out[0]!, json: out[1]!, codes };
  }

  it.each(['static', 'vault', 'entra'])('with a %s secret, the doctor (text and JSON) and the boot error of a refused login', async (name) => {
    const { options, secrets } = await scenario(name);
    const working = await doctorOutputs(options, options.user);
    expect(working.codes).toEqual([0, 0]);
    const refused = await doctorOutputs(options, 'exposure_missing_role');
    expect(refused.codes).toEqual([1, 1]);
    expect(refused.text).toContain('password authentication failed for user "exposure_missing_role"');
    // A vault's secret names its own role, which wins over `user`: refuse that role's logins instead.
    const { rows } = await db.adminPool.query<{ role: string }>("SELECT rolname AS role FROM pg_roles WHERE rolname LIKE $1", [`exposure_${name}_%`]);
    for (const { role } of rows) await db.adminPool.query(`ALTER ROLE ${pg.escapeIdentifier(role)} NOLOGIN`);
    const error = await bootPool(db, name === 'entra' ? { ...options, user: 'exposure_missing_role' } : options).then(() => undefined, (e: unknown) => e);
    expect(String(error)).toContain('Likely cause');
    expect(secrets().length).toBeGreaterThan(0);
    for (const value of [working.text, working.json, refused.text, refused.json, error]) expectHidden(value, secrets());
  });
});
