import { inspect } from 'node:util';
import { Test } from '@nestjs/testing';
import type pg from 'pg';
import { AwsSecretsManagerSource, type AwsSecretsManagerSourceOptions } from '../../lib/aws/index.js';
import { EntraPgModule, PG_POOL } from '../../lib/index.js';
import { LogCapture } from '../support/log-capture.js';
import { bootPool, load, sleep } from '../support/harness.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { SecretsManagerEndpoint } from '../support/secrets-manager-endpoint.js';

/** Static fake credentials: the SDK's default chain (which probes the EC2 metadata address) never runs. */
const FAKE_KEYS = { accessKeyId: 'AKIAFAKEFORTESTS0001', secretAccessKey: 'fake-secret-access-key-do-not-log' };

/** Waits for `condition`, polling; fails after `ms`. */
async function until(condition: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('AwsSecretsManagerSource against a local Secrets Manager endpoint', () => {
  let db: TestPostgres;
  let aws: SecretsManagerEndpoint;
  let logs: LogCapture;
  let roles = 0;
  const saved = process.env.AWS_EC2_METADATA_DISABLED;

  const source = (secretId: string, options: Partial<AwsSecretsManagerSourceOptions> = {}) =>
    new AwsSecretsManagerSource({
      secretId,
      clientConfig: { region: 'us-east-1', endpoint: aws.endpoint, credentials: FAKE_KEYS, maxAttempts: 1 },
      ...options,
    });

  /** A fresh role with a password, and its secret JSON as RDS rotation writes it. */
  const role = async (password: string) => {
    roles += 1;
    const name = `sm_${process.pid}_${roles}`;
    await db.createRole(name);
    await db.adminPool.query(`ALTER ROLE ${name} PASSWORD '${password}'`);
    return { name, secret: { engine: 'postgres', host: '127.0.0.1', port: db.port, dbname: 'postgres', username: name, password } };
  };

  beforeAll(async () => {
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    db = await startPostgres();
    aws = await SecretsManagerEndpoint.start();
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.AWS_EC2_METADATA_DISABLED;
    else process.env.AWS_EC2_METADATA_DISABLED = saved;
    await aws?.close();
    await db?.stop();
  });
  beforeEach(() => {
    logs = LogCapture.install();
    aws.hang = false;
    aws.rawAnswer = undefined;
  });

  it('boots from the host, port and dbname in the secret (forRootAsync) and reads it again every refresh.intervalMs', async () => {
    const { name, secret } = await role('sm-boot-pw-1');
    aws.put('orders/boot', secret);
    const orders = source('orders/boot');
    expect(await orders.connectionTarget()).toEqual({ host: '127.0.0.1', port: db.port, database: 'postgres' });
    const module = await Test.createTestingModule({
      imports: [
        EntraPgModule.forRootAsync({
          useFactory: async () => ({ ...(await orders.connectionTarget()), source: orders, retryAttempts: 0, refresh: { intervalMs: 200 } }),
        }),
      ],
    })
      .setLogger(logs)
      .compile();
    await module.init();
    try {
      const pool = module.get<pg.Pool>(PG_POOL);
      expect((await pool.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u).toBe(name);
      const before = aws.reads('orders/boot').length;
      // Polled with no expiry to go by: several more reads within a few intervals.
      await until(() => aws.reads('orders/boot').length >= before + 3, 5_000, 'polling');
      // Every request went to the local endpoint, signed with the given keys, for the current version.
      for (const request of aws.reads('orders/boot')) {
        expect(request).toMatchObject({ accessKeyId: FAKE_KEYS.accessKeyId, versionStage: 'AWSCURRENT' });
      }
    } finally {
      await module.close();
    }
    logs.assertNoSecrets(['sm-boot-pw-1', FAKE_KEYS.secretAccessKey]);
  });

  it('single-user rotation mid-load: old connections keep working, a refused login re-reads the secret at once, 0 failed queries', async () => {
    const { name, secret } = await role('sm-single-pw-1');
    aws.put('orders/single', secret);
    // No polling during the test: the only read after boot is the one a refused login forces.
    const app = await bootPool(db, { source: source('orders/single'), pool: { max: 10 }, refresh: { intervalMs: 60_000 } });
    try {
      expect(aws.reads('orders/single')).toHaveLength(1);
      const held = await app.pool.connect();
      const running = load(2_000, 4, () => app.pool.query('SELECT current_user AS u, pg_sleep(0.01)'));
      await sleep(400);
      // AWS's order: setSecret changes the password, then finishSecret moves AWSCURRENT to it.
      await db.adminPool.query(`ALTER ROLE ${name} PASSWORD 'sm-single-pw-2'`);
      aws.put('orders/single', { ...secret, password: 'sm-single-pw-2' });
      // A burst beyond the open connections: new logins with the cached password are refused.
      const burst = await Promise.allSettled(Array.from({ length: 8 }, () => app.pool.query('SELECT pg_sleep(0.2)')));
      const stats = await running;
      expect(burst.filter((result) => result.status === 'rejected')).toEqual([]);
      expect(stats.failed).toBe(0);
      expect(stats.ok).toBeGreaterThan(50);
      // Read again because of the refusal, long before refresh.intervalMs.
      expect(aws.reads('orders/single').length).toBeGreaterThanOrEqual(2);
      expect(aws.reads('orders/single').length).toBeLessThanOrEqual(3);
      // The connection opened before the rotation still works: a session outlives its password.
      expect((await held.query<{ n: number }>('SELECT 7 AS n')).rows[0]!.n).toBe(7);
      held.release();
      expect(app.connection.status().rotations).toBe(0);
    } finally {
      await app.close();
    }
    logs.assertNoSecrets(['sm-single-pw-1', 'sm-single-pw-2', FAKE_KEYS.secretAccessKey]);
  });

  it('alternating-users rotation mid-load: the pool rotates to the new user, the old generation drains, 0 failed queries', async () => {
    const a = await role('sm-alt-a-1');
    const b = await role('sm-alt-b-1');
    aws.put('orders/alternating', a.secret);
    const app = await bootPool(db, {
      source: source('orders/alternating'),
      pool: { max: 4 },
      refresh: { intervalMs: 300, forcedRefreshMinIntervalMs: 100 },
    });
    try {
      const running = load(2_500, 6, () => app.pool.query('SELECT current_user AS u, pg_sleep(0.01)'));
      await sleep(500);
      // The rotation function switches the secret to the other user, then the old user's password changes.
      aws.put('orders/alternating', b.secret);
      await db.adminPool.query(`ALTER ROLE ${a.name} PASSWORD 'sm-alt-a-2'`);
      const stats = await running;
      expect(stats.failed).toBe(0);
      expect((await app.pool.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u).toBe(b.name);
      expect(app.connection.status().rotations).toBe(1);
      await until(async () => (await db.backends(a.name)) === 0, 5_000, `${a.name}'s connections to close`);
    } finally {
      await app.close();
    }
    logs.assertNoSecrets(['sm-alt-a-1', 'sm-alt-a-2', 'sm-alt-b-1', FAKE_KEYS.secretAccessKey]);
  });

  it('an endpoint that never answers: the read is aborted at refresh.timeoutMs, every caller is answered, shutdown does not hang', async () => {
    const { secret } = await role('sm-hang-pw-1');
    aws.put('orders/hang', secret);
    aws.hang = true;
    const app = await bootPool(db, { source: source('orders/hang'), lazyConnect: true, refresh: { timeoutMs: 300 } });
    try {
      const burst = await Promise.allSettled(Array.from({ length: 10 }, () => app.pool.query('SELECT 1')));
      expect(burst.every((result) => result.status === 'rejected')).toBe(true);
      expect(String((burst[0] as PromiseRejectedResult).reason)).toMatch(/did not answer within 300 ms \(refresh\.timeoutMs\)/);
      // The SDK request itself was abandoned, not left open.
      await until(() => aws.abandoned >= 1, 5_000, 'the request to be aborted');
    } finally {
      await app.close();
    }
    expect(aws.reads('orders/hang').length).toBeGreaterThanOrEqual(1);
    logs.assertNoSecrets(['sm-hang-pw-1', FAKE_KEYS.secretAccessKey]);
  });

  it('connectionTarget() gives up at its timeoutMs, and aborts the request', async () => {
    const { secret } = await role('sm-target-pw-1');
    aws.put('orders/target-hang', secret);
    aws.hang = true;
    const abandonedBefore = aws.abandoned;
    const orders = source('orders/target-hang');
    await expect(orders.connectionTarget({ timeoutMs: 200 })).rejects.toThrow(/did not answer within 200 ms \(connectionTarget timeoutMs\)/);
    await until(() => aws.abandoned > abandonedBefore, 5_000, 'the request to be aborted');
    await expect(orders.connectionTarget({ timeoutMs: 0 })).rejects.toThrow(/`timeoutMs` must be a positive number/);
  });

  it('a poll that hangs leaves queries on the current secret, and shutdown with that read in flight aborts it', async () => {
    const { secret } = await role('sm-hang-pw-2');
    aws.put('orders/hang-later', secret);
    const app = await bootPool(db, { source: source('orders/hang-later'), pool: { max: 4 }, refresh: { intervalMs: 100, timeoutMs: 60_000 } });
    let closed = false;
    try {
      aws.hang = true;
      const abandonedBefore = aws.abandoned;
      const readsBefore = aws.reads('orders/hang-later').length;
      await until(() => aws.reads('orders/hang-later').length > readsBefore, 5_000, 'a poll to start');
      // The poll is stuck; a burst of callers is served on the secret already held.
      const burst = await Promise.all(Array.from({ length: 12 }, () => app.pool.query<{ n: number }>('SELECT 1 AS n')));
      expect(burst.every((result) => result.rows[0]!.n === 1)).toBe(true);
      await app.close();
      closed = true;
      await until(() => aws.abandoned > abandonedBefore, 5_000, 'the in-flight read to be aborted by shutdown');
    } finally {
      if (!closed) await app.close();
    }
    logs.assertNoSecrets(['sm-hang-pw-2', FAKE_KEYS.secretAccessKey]);
  });

  it('a malformed secret says which key is missing and never shows the secret string', async () => {
    aws.put('bad/no-password', { username: 'someone', pasword: 'leak-me-typo-1' });
    aws.put('bad/not-json', 'leak-me-text-2 username=someone');
    aws.put('bad/port', { username: 'someone', password: 'leak-me-port-3', port: 'leak-me-port-4' });
    const errors = await Promise.all(
      ['bad/no-password', 'bad/not-json', 'bad/port', 'bad/unknown'].map((id) =>
        source(id).fetch(new AbortController().signal).then(
          () => new Error('resolved'),
          (error: Error) => error,
        ),
      ),
    );
    expect(errors.map((error) => error.name)).toEqual(Array(4).fill('SecretSourceError'));
    expect(errors[0]!.message).toMatch(/Secrets Manager secret bad\/no-password \(AWSCURRENT\) has no "password" key/);
    expect(errors[1]!.message).toMatch(/is not valid JSON/);
    expect(errors[2]!.message).toMatch(/"port" that is not a port number/);
    expect(errors[3]!.message).toMatch(/ResourceNotFoundException: check `secretId`/);
    const printed = errors.map((error) => inspect(error, { depth: 10 })).join('\n');
    expect(printed).not.toMatch(/leak-me/);

    // An answer the SDK cannot parse: its parser's message would quote the body.
    aws.rawAnswer = 'leak-me-raw-5 {"SecretString": "{}"}';
    const unparsable = await source('bad/no-password').fetch(new AbortController().signal).then(
      () => new Error('resolved'),
      (error: Error) => error,
    );
    aws.rawAnswer = undefined;
    expect(unparsable.message).toMatch(/GetSecretValue failed \(HTTP 200\): the answer could not be read/);
    expect(inspect(unparsable, { depth: 10, showHidden: true })).not.toMatch(/leak-me/);

    // Through the module: the boot fails with the same wording, and nothing logged holds the secret.
    await expect(bootPool(db, { source: source('bad/no-password') })).rejects.toThrow(/has no "password" key/);
    logs.assertNoSecrets(['leak-me-typo-1', FAKE_KEYS.secretAccessKey]);
  });

  it('prints as its label and description only, never the static AWS keys or the secret', async () => {
    const { secret } = await role('sm-print-pw-1');
    aws.put('orders/print', secret);
    const orders = source('orders/print');
    await orders.fetch(new AbortController().signal); // its client now exists, with the keys in its config
    const summary = { label: 'Secrets Manager secret', description: 'Secrets Manager secret orders/print (AWSCURRENT)' };
    expect(inspect(orders, { depth: 10, showHidden: true })).toBe(`AwsSecretsManagerSource ${inspect(summary)}`);
    expect(JSON.parse(JSON.stringify(orders))).toEqual(summary);
  });

  it('refuses options that cannot work, saying what to set', () => {
    expect(() => new AwsSecretsManagerSource({ secretId: ' ' })).toThrow(/`secretId` must be the secret's name or ARN/);
    expect(
      () => new AwsSecretsManagerSource({ secretId: 'x', client: { send: () => Promise.resolve({}) }, clientConfig: { region: 'us-east-1' } }),
    ).toThrow(/either `client` or `clientConfig`/);
  });
});
