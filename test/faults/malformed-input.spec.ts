import { Test } from '@nestjs/testing';
import { resolveOptions } from '../../lib/options/resolve-options.js';
import { EntraPgConfigError, EntraPgCredentialError, EntraPgLoginRefusedError, EntraPgModule, EntraTokenSource } from '../../lib/index.js';
import { EntraPgConnection } from '../../lib/connection/entra-pg.connection.js';
import { createTestToken } from '../../lib/testing/index.js';
import { LogCapture } from '../support/log-capture.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { seededRandom as prng } from '../support/seeded-random.js';

const SECRET = 'hunter2-do-not-print';
const JUNK: unknown[] = [null, -1, 0, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '', ' ', 'text', [], [1], {}, true, false, 2 ** 53, -0, () => 1, new Date(0), { getToken: 1 }, { getCredentials: 'x' }];
const KEYS = [
  'host', 'port', 'database', 'user', 'ssl', 'credential', 'scope', 'credentials', 'password', 'lazyConnect',
  'retryAttempts', 'retryDelay', 'drainTimeoutMs', 'applicationName', 'pool', 'refresh',
  'pool.max', 'pool.min', 'pool.idleTimeoutMillis', 'pool.connectionTimeoutMillis', 'pool.maxLifetimeSeconds',
  'refresh.marginMs', 'refresh.retryBaseMs', 'refresh.retryMaxMs', 'refresh.jitterRatio', 'refresh.forcedRefreshMinIntervalMs', 'refresh.intervalMs',
];

/** A valid option object with one to three fields replaced by junk. */
function malformedOptions(random: () => number): unknown {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  if (random() < 0.03) return pick([null, undefined, 'options', 42, [], true]);
  const options: Record<string, unknown> = {
    host: '127.0.0.1',
    user: 'app',
    password: SECRET,
    pool: { max: 4 },
    refresh: {},
    lazyConnect: true,
  };
  const mutations = 1 + Math.floor(random() * 3);
  for (let i = 0; i < mutations; i += 1) {
    const key = pick(KEYS);
    const value = pick(JUNK);
    const [head, tail] = key.split('.') as [string, string | undefined];
    if (tail) {
      const group = (options[head] && typeof options[head] === 'object' ? options[head] : {}) as Record<string, unknown>;
      options[head] = { ...group, [tail]: value };
    } else {
      options[head] = value;
    }
  }
  return options;
}

/** What the bootstrap does with options before any I/O: validation, then building the connection. */
function bootstrapSync(options: unknown): EntraPgConnection {
  const valid = resolveOptions(options, 'default');
  const source = valid.source ?? new EntraTokenSource(valid.credential ?? { getToken: async () => null }, { scope: valid.scope, user: valid.pool.user });
  return new EntraPgConnection('default', valid, source);
}

describe('malformed input never crashes, hangs or leaks a secret', () => {
  let db: TestPostgres;
  beforeAll(async () => {
    db = await startPostgres();
    await db.createRole('fuzz_user');
    LogCapture.install();
  });
  afterAll(() => db.stop());

  it('1200 generated malformed option objects: a clear EntraPgConfigError or a working configuration', async () => {
    const random = prng(20261122);
    const problems: string[] = [];
    let rejected = 0;
    for (let i = 0; i < 1200; i += 1) {
      const options = malformedOptions(random);
      let connection: EntraPgConnection | undefined;
      try {
        connection = bootstrapSync(options);
      } catch (error) {
        rejected += 1;
        const message = error instanceof Error ? error.message : String(error);
        if (!(error instanceof EntraPgConfigError)) problems.push(`case ${i}: not an EntraPgConfigError: ${message}`);
        if (!/EntraPgModule "default":|PostgreSQL host|Invalid/.test(message)) problems.push(`case ${i}: unclear: ${message}`);
        if (message.includes(SECRET)) problems.push(`case ${i}: the password is in the message`);
        if (message.length >= 400) problems.push(`case ${i}: message of ${message.length} characters`);
      }
      await connection?.pool.shutdown(0);
    }
    expect(problems).toEqual([]);
    // Most mutations are invalid; the few that are not (ssl: true, a Date as junk for nothing, ...) booted.
    expect(rejected).toBeGreaterThan(900);
  });

  it('the same through EntraPgModule.forRoot for a sample of 60: the error surfaces at bootstrap', async () => {
    const random = prng(7);
    const problems: string[] = [];
    for (let i = 0; i < 60; i += 1) {
      const options = malformedOptions(random);
      const outcome = await Test.createTestingModule({
        imports: [EntraPgModule.forRoot(options as Parameters<typeof EntraPgModule.forRoot>[0])],
      })
        .compile()
        .then(
          async (module) => {
            await module.close();
            return undefined;
          },
          (error: unknown) => error,
        );
      if (outcome === undefined) continue;
      if (!(outcome instanceof EntraPgConfigError)) problems.push(`case ${i}: ${String(outcome)}`);
      else if (outcome.message.includes(SECRET)) problems.push(`case ${i}: the password is in the message`);
    }
    expect(problems).toEqual([]);
  });

  it('600 malformed tokens: each a clear error at connect, never a hang, never the token in a message or log', async () => {
    const logs = LogCapture.install();
    const random = prng(99);
    const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64url');
    const soon = () => Date.now() + 60_000;
    const makers: Array<(n: number) => { token: unknown; expiresOnTimestamp: unknown } | null> = [
      (n) => ({ token: `opaque-token-${n}-${random().toString(36).slice(2)}`, expiresOnTimestamp: soon() }),
      (n) => ({ token: `${b64('{}')}.${b64(`{"exp":1,"n":${n}}`)}.sig${n}`, expiresOnTimestamp: soon() }), // no user claim
      (n) => ({ token: `${b64('{}')}.${b64(Buffer.from([0xff, 0xfe, 0xfd, n % 256]))}.sig`, expiresOnTimestamp: soon() }), // non-UTF-8
      (n) => ({ token: `${b64('{}')}.${b64('[1,2,3]')}.x${n}`, expiresOnTimestamp: soon() }),
      (n) => ({ token: `${b64('{}')}.${'A'.repeat(70_000 + n)}.x`, expiresOnTimestamp: soon() }), // huge
      (n) => ({ token: createTestToken({ upn: 'fuzz_user', n }, new Date(soon())), expiresOnTimestamp: Number.NaN }),
      (n) => ({ token: createTestToken({ upn: 'fuzz_user', n }, new Date(soon())), expiresOnTimestamp: undefined }),
      () => ({ token: '', expiresOnTimestamp: soon() }),
      () => ({ token: null, expiresOnTimestamp: soon() }),
      () => null,
      (n) => ({ token: createTestToken({ upn: `no_such_role_${n}` }, new Date(soon())), expiresOnTimestamp: soon() }), // valid shape, unknown role
      (n) => ({ token: createTestToken({ upn: 'fuzz_user', n }, new Date(soon())), expiresOnTimestamp: soon() }), // wrong password for a real role
    ];
    const seen: string[] = [];
    const problems: string[] = [];
    for (let i = 0; i < 600; i += 1) {
      const answer = makers[i % makers.length]!(i);
      const token = answer && typeof answer.token === 'string' ? answer.token : undefined;
      if (token) seen.push(token);
      const credential = { getToken: async () => answer as never };
      const connection = new EntraPgConnection('default', resolveOptions({ host: db.host, port: db.port, retryAttempts: 0 }, 'default'), new EntraTokenSource(credential));
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        connection.pool.query('SELECT 1').then(() => 'connected', (e: unknown) => e),
        new Promise((resolve) => (timer = setTimeout(() => resolve('hung for 5 s'), 5_000))),
      ]);
      clearTimeout(timer);
      await connection.pool.shutdown(0);
      if (!(outcome instanceof Error)) {
        problems.push(`case ${i}: ${String(outcome)}`);
        continue;
      }
      const clear =
        outcome instanceof EntraPgLoginRefusedError
          ? // Reached the server, refused even with a fresh token: names the user and pg's reason, not the password.
            /refused the login of "default" as ".+" even with a freshly fetched Entra token: .*password authentication failed for user/.test(
              outcome.message,
            )
          : outcome instanceof EntraPgCredentialError &&
            /returned no access token|without a valid expiresOnTimestamp|not a JWT|none of the claims/.test(outcome.message);
      if (!clear) problems.push(`case ${i}: unclear error: ${outcome.message}`);
      if (token && token.length > 8 && outcome.message.includes(token)) problems.push(`case ${i}: the token is in the message`);
    }
    expect(problems).toEqual([]);
    logs.assertNoSecrets(seen.filter((token) => token.length > 8));
  });
});
