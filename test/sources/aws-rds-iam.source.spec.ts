import { inspect } from 'node:util';
import pg from 'pg';
import { AwsRdsIamSource, type AwsRdsIamCredentials, type AwsRdsIamCredentialsProvider } from '../../lib/aws/index.js';
import type { PgSecret } from '../../lib/index.js';
import { LocalEntraLogin } from '../../lib/testing/index.js';
import { LogCapture } from '../support/log-capture.js';
import { bootPool, load, loginThrough, waitFor } from '../support/harness.js';
import { LocalRdsIamAuthority } from '../support/rds-iam-authority.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

const REGION = 'eu-west-1';

/**
 * Nothing here reaches AWS: tokens are signed locally with fake credentials that a loopback
 * authority issued, and that authority checks them at login the way RDS does. The SDK's default
 * provider chain probes the EC2 metadata address when nothing else has credentials; it is disabled
 * for the whole file, and every test but the one about the chain passes credentials explicitly.
 */
process.env.AWS_EC2_METADATA_DISABLED = 'true';

let roleCounter = 0;

describe('AwsRdsIamSource', () => {
  let db: TestPostgres;
  let front: LocalEntraLogin;
  let authority: LocalRdsIamAuthority;
  let logs: LogCapture;
  let ssl: { ca: string; servername: string };

  beforeAll(async () => {
    db = await startPostgres();
    let verify: LocalRdsIamAuthority['verify'] = async () => undefined;
    // RDS accepts IAM tokens only over TLS; so does this front (self-signed certificate, verified by the pool).
    front = await LocalEntraLogin.start({ admin: db.admin, tls: true, verify: (token, user) => verify(token, user) });
    authority = new LocalRdsIamAuthority({ hostname: front.host, port: front.port, region: REGION });
    verify = (token, user) => authority.verify(token, user);
    ssl = { ca: front.certificate!, servername: front.servername };
  });
  afterAll(async () => {
    await front.close();
    await db.stop();
  });
  beforeEach(() => {
    logs = LogCapture.install();
  });

  async function newRole(): Promise<string> {
    roleCounter += 1;
    const role = `rds_${process.pid}_${roleCounter}`;
    await db.createRole(role);
    return role;
  }

  function sourceFor(role: string, credentials: AwsRdsIamCredentials | AwsRdsIamCredentialsProvider): AwsRdsIamSource {
    return new AwsRdsIamSource({ hostname: front.host, port: front.port, username: role, region: REGION, credentials });
  }

  /** Every token the source hands out, for the log check and for logging in with an old one. */
  function recordTokens(source: AwsRdsIamSource): string[] {
    const tokens: string[] = [];
    const fetch = source.fetch.bind(source);
    source.fetch = async (signal: AbortSignal): Promise<PgSecret> => {
      const secret = await fetch(signal);
      tokens.push(secret.password);
      return secret;
    };
    return tokens;
  }

  it('signs a 15-minute token that the authority verifies, and logs in with it over verified TLS', async () => {
    const role = await newRole();
    const source = sourceFor(role, authority.staticCredentials());
    const before = Date.now();
    const secret = await source.fetch(new AbortController().signal);
    expect(secret.user).toBe(role);
    // X-Amz-Date has whole seconds: the expiry is at most one second before signing time + 900 s.
    expect(secret.expiresAt!.getTime()).toBeGreaterThan(before - 1_000 + 900_000);
    expect(secret.expiresAt!.getTime()).toBeLessThanOrEqual(Date.now() + 900_000);
    await expect(authority.verify(secret.password, role)).resolves.toMatchObject({ user: role });

    // The signature covers the user, the endpoint and the action: a changed one is refused.
    const forged = secret.password.replace(`DBUser=${role}`, 'DBUser=postgres');
    await expect(authority.verify(forged, 'postgres')).resolves.toBeUndefined();
    expect(authority.refusals.at(-1)).toBe('signature mismatch');
    await expect(authority.verify(secret.password, 'postgres')).resolves.toBeUndefined();
    expect(authority.refusals.at(-1)).toBe('DBUser is not the login user');

    await expect(loginThrough(front, role, secret.password, ssl)).resolves.toEqual({ user: role, encrypted: true, authorized: true });
  });

  it('ends a token with the temporary credentials that signed it', async () => {
    const role = await newRole();
    const credentials = authority.temporaryCredentials(120_000);
    const secret = await sourceFor(role, async () => credentials).fetch(new AbortController().signal);
    expect(secret.expiresAt!.getTime()).toBe(credentials.expiration!.getTime());
    await expect(authority.verify(secret.password, role)).resolves.toMatchObject({ expiresOnTimestamp: credentials.expiration!.getTime() });
  });

  /*
   * @aws-sdk/rds-signer always signs for 900 s (no option shortens it). What is shortened here is
   * the life of the AWS credentials: temporary credentials of 2 s, as STS hands out (for an hour
   * or more in real life). A presigned token dies with the credentials that signed it, the
   * authority refuses it after that as AWS does, and the source reports that earlier expiry, so
   * the refresher fetches a new token from new credentials about every second.
   */
  it('keeps a pool logging in across several token lifetimes under load, with 0 failed queries', async () => {
    const role = await newRole();
    const source = sourceFor(role, async () => authority.temporaryCredentials(2_000));
    const tokens = recordTokens(source);
    const issuedBefore = authority.issued.length;
    const loginsBefore = front.logins;
    const refusalsBefore = authority.refusals.length;
    // Connections live 1 s, so logins go on with every token.
    const app = await bootPool(db, { host: front.host, port: front.port, ssl, source, pool: { max: 4, maxLifetimeSeconds: 1, idleTimeoutMillis: 200 } });
    try {
      const stats = await load(7_000, 6, () => app.pool.query('SELECT current_user AS u, pg_sleep(0.005)'));
      expect(stats.errors).toEqual([]);
      expect(stats.failed).toBe(0);
      expect(stats.ok).toBeGreaterThan(100);
      // Each 2 s token is replaced about halfway through its life: well over three lifetimes.
      expect(authority.issued.length - issuedBefore).toBeGreaterThanOrEqual(4);
      expect(new Set(tokens).size).toBeGreaterThanOrEqual(4);
      expect(front.logins - loginsBefore).toBeGreaterThanOrEqual(6);
      expect(app.connection.status()).toMatchObject({ label: 'RDS IAM token', user: role, refreshFailures: 0 });
      // Refreshed ahead of the credentials' expiry: no login ever presented an expired token.
      expect(authority.refusals.slice(refusalsBefore)).toEqual([]);
    } finally {
      await app.close();
    }
    // The lifetimes are real: the first token stopped working with its credentials.
    const stale = new pg.Client({ host: front.host, port: front.port, user: role, password: tokens[0], database: 'postgres', ssl });
    await expect(stale.connect()).rejects.toMatchObject({ code: '28P01' });
    expect(authority.refusals.at(-1)).toBe('the signing credentials expired');
    logs.assertNoSecrets([...tokens, ...authority.secrets()]);
    expect(logs.text()).not.toMatch(/X-Amz-Signature|X-Amz-Security-Token/);
  });

  it('refuses to boot with ssl off, saying RDS accepts the tokens only over TLS', async () => {
    const role = await newRole();
    const source = sourceFor(role, authority.staticCredentials());
    await expect(bootPool(db, { host: front.host, port: front.port, ssl: false, source })).rejects.toThrow(
      /RDS IAM tokens are accepted only over TLS, and ssl is off .*\(ssl: false\)/,
    );
  });

  it('gives up on a credential provider that hangs at refresh.timeoutMs, answers callers, and drops its late answer', async () => {
    const role = await newRole();
    let hang = false;
    const late: Array<{ resolve(credentials: AwsRdsIamCredentials): void; reject(error: Error): void }> = [];
    const provider: AwsRdsIamCredentialsProvider = () =>
      hang
        ? new Promise((resolve, reject) => late.push({ resolve, reject }))
        : Promise.resolve(authority.temporaryCredentials(1_500));
    const source = sourceFor(role, provider);
    const tokens = recordTokens(source);
    const app = await bootPool(db, {
      host: front.host,
      port: front.port,
      ssl,
      source,
      pool: { max: 4, idleTimeoutMillis: 50 },
      refresh: { timeoutMs: 200, retryBaseMs: 100, retryMaxMs: 300 },
    });
    const unhandled: unknown[] = [];
    const record = (error: unknown) => unhandled.push(error);
    process.on('unhandledRejection', record);
    try {
      expect((await app.pool.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u).toBe(role);
      hang = true;
      // The scheduled refresh hangs and is abandoned; then the token expires.
      await waitFor(() => /did not answer within 200 ms/.test(app.connection.status().lastError ?? ''));
      await waitFor(() => Date.now() >= app.connection.status().expiresAt! && app.pool.totalCount === 0);
      const burst = await Promise.allSettled(Array.from({ length: 20 }, () => app.pool.query('SELECT 1')));
      expect(burst.map((result) => result.status)).toEqual(Array(20).fill('rejected'));
      const reason = (burst[0] as PromiseRejectedResult).reason as { code?: string; message: string };
      expect(reason.code).toBe('ENTRA_PG_CREDENTIAL');
      expect(reason.message).toMatch(/RDS IAM/);
      expect(late.length).toBeGreaterThanOrEqual(1);

      // The provider answers at last, between two attempts (every call so far was abandoned): a
      // success and a failure, both too late to count.
      await waitFor(() => app.connection.status().refreshingSince === undefined);
      const tokensBefore = tokens.length;
      late.splice(0).forEach((call, i) => (i % 2 === 0 ? call.resolve(authority.temporaryCredentials(60_000)) : call.reject(new Error('late failure'))));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(tokens.length).toBe(tokensBefore);
      expect(unhandled).toEqual([]);

      // Once the provider answers again, the backoff's next attempt recovers the pool.
      hang = false;
      await waitFor(async () => {
        try {
          return (await app.pool.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u === role;
        } catch {
          return false;
        }
      });
    } finally {
      process.off('unhandledRejection', record);
      late.forEach((call) => call.reject(new Error('test over')));
      await app.close();
    }
    logs.assertNoSecrets([...tokens, ...authority.secrets()]);
  });

  it('stops waiting for the provider as soon as the signal aborts', async () => {
    const role = await newRole();
    let release!: (credentials: AwsRdsIamCredentials) => void;
    const source = sourceFor(role, () => new Promise((resolve) => (release = resolve)));
    const controller = new AbortController();
    const pending = source.fetch(controller.signal);
    await waitFor(() => release !== undefined);
    controller.abort(new Error('refresh.timeoutMs passed'));
    await expect(pending).rejects.toThrow('refresh.timeoutMs passed');
    release(authority.staticCredentials());
    // An aborted signal is refused before any work.
    await expect(source.fetch(controller.signal)).rejects.toThrow('refresh.timeoutMs passed');
  });

  it('signs with the AWS credential provider chain when no credentials are given (here: the environment)', async () => {
    const role = await newRole();
    const key = authority.temporaryCredentials(300_000);
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: key.accessKeyId,
      AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
      AWS_SESSION_TOKEN: key.sessionToken,
      AWS_REGION: REGION,
      // Nothing on this machine is read as a profile.
      AWS_CONFIG_FILE: '/nonexistent/aws-config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    });
    try {
      const source = new AwsRdsIamSource({ hostname: front.host, port: front.port, username: role });
      expect(source.description).toContain('AWS credential provider chain');
      const secret = await source.fetch(new AbortController().signal);
      await expect(authority.verify(secret.password, role)).resolves.toMatchObject({ user: role });
      expect(secret.password).toContain(key.accessKeyId);
    } finally {
      for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE']) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
  });

  it('says what is missing when built without a region, hostname or username', () => {
    const saved = process.env.AWS_REGION;
    delete process.env.AWS_REGION;
    try {
      expect(() => new AwsRdsIamSource({ hostname: 'db.example', username: 'app' })).toThrow(/set the `region` option or AWS_REGION/);
    } finally {
      if (saved !== undefined) process.env.AWS_REGION = saved;
    }
    expect(() => new AwsRdsIamSource({ hostname: '', username: 'app', region: REGION })).toThrow(/`hostname`/);
    expect(() => new AwsRdsIamSource({ hostname: 'db.example', username: ' ', region: REGION })).toThrow(/`username`/);
  });

  it('prints and serializes as its label and description, never its credentials', () => {
    const credentials = authority.staticCredentials();
    const source = sourceFor('app', credentials);
    for (const printed of [inspect(source, { depth: 10, showHidden: true }), JSON.stringify(source)]) {
      expect(printed).toContain('RDS IAM token');
      expect(printed).not.toContain(credentials.secretAccessKey);
      expect(printed).not.toContain(credentials.accessKeyId);
    }
  });
});
