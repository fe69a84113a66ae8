import { Injectable, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test, type TestingModule } from '@nestjs/testing';
import type pg from 'pg';
import {
  CallbackSource,
  PG_SECRET_SOURCE,
  StaticPasswordSource,
  ENTRA_CREDENTIAL,
  EntraPgConfigError,
  EntraPgError,
  EntraPgModule,
  type EntraPgModuleOptions,
  type EntraPgOptionsFactory,
  EntraPgPool,
  InjectPgPool,
  PG_POOL,
  getEntraCredentialToken,
  getEntraPgConnectionToken,
  getPgPoolToken,
} from '../lib/index.js';
import { LocalTokenAuthority, createTestToken } from '../lib/testing/index.js';
import { LogCapture } from './support/log-capture.js';
import { newRole } from './support/harness.js';
import { startPostgres, type TestPostgres } from './support/postgres.js';

@Injectable()
class TodoRepository {
  constructor(@InjectPgPool() readonly pool: pg.Pool) {}
  async now(): Promise<number> {
    return (await this.pool.query('SELECT 41 + 1 AS n')).rows[0].n;
  }
}

describe('EntraPgModule', () => {
  let db: TestPostgres;
  let logs: LogCapture;
  beforeAll(async () => {
    db = await startPostgres();
  });
  afterAll(() => db.stop());
  beforeEach(() => {
    logs = LogCapture.install();
  });

  /** Boot errors surface from compile() (async providers) in Nest's testing module. */
  const bootError = async (builder: ReturnType<typeof Test.createTestingModule>): Promise<unknown> => {
    try {
      const module = await builder.compile();
      await module.init();
      await module.close();
      return undefined;
    } catch (error) {
      return error;
    }
  };

  /** Boots the module, checks the role its pool logs in as, and closes the module and the authority. */
  const expectLoginAs = async (module: TestingModule, authority: LocalTokenAuthority) => {
    try {
      await module.init();
      expect((await module.get<pg.Pool>(PG_POOL).query('SELECT current_user AS u')).rows[0].u).toBe(authority.role);
    } finally {
      await module.close();
      await authority.close();
    }
  };

  const compile = (imports: NonNullable<Parameters<typeof Test.createTestingModule>[0]['imports']>, providers = [] as never[]) =>
    Test.createTestingModule({ imports, providers }).setLogger(logs);

  it('forRootAsync works with ConfigService, and PG_POOL is one stable pg.Pool injected into services', async () => {
    const authority = await newRole(db, 60_000);
    const module = await compile(
      [
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          load: [() => ({ DB_HOST: db.host, DB_PORT: db.port, DB_NAME: 'postgres' })],
        }),
        EntraPgModule.forRootAsync({
          imports: [ConfigModule],
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            host: config.getOrThrow<string>('DB_HOST'),
            port: config.getOrThrow<number>('DB_PORT'),
            database: config.get<string>('DB_NAME'),
            credential: authority,
            retryAttempts: 0,
          }),
        }),
      ],
      [TodoRepository as never],
    ).compile();
    try {
      await module.init();
      const repo = module.get(TodoRepository);
      expect(await repo.now()).toBe(42);
      expect(module.get(PG_POOL)).toBe(repo.pool);
      expect(module.get(getPgPoolToken())).toBe(repo.pool);
      expect(repo.pool).toBeInstanceOf(EntraPgPool);
      // Boot made the first token request and a SELECT 1 before init resolved.
      expect(authority.requests).toBe(1);
      expect(logs.matching(/Connected to 127\.0\.0\.1:\d+\/postgres as "app_/)).toHaveLength(1);
      expect(logs.lines.every((l) => l.context === 'EntraPg:default' || !/EntraPg/.test(l.context ?? ''))).toBe(true);
    } finally {
      await module.close();
      await authority.close();
    }
  });

  it('supports useClass factories and several named connections, each with its own pool and token', async () => {
    const a = await newRole(db, 60_000);
    const b = await newRole(db, 60_000);
    @Injectable()
    class ReportsOptions implements EntraPgOptionsFactory {
      createEntraPgOptions(name?: string): EntraPgModuleOptions {
        expect(name).toBe('reports');
        return { host: db.host, port: db.port, credential: b, retryAttempts: 0 };
      }
    }
    @Injectable()
    class TwoPools {
      constructor(
        @InjectPgPool() readonly main: pg.Pool,
        @InjectPgPool('reports') readonly reports: pg.Pool,
      ) {}
    }
    const module = await compile(
      [
        EntraPgModule.forRoot({ host: db.host, port: db.port, credential: a, retryAttempts: 0 }),
        EntraPgModule.forRootAsync({ name: 'reports', useClass: ReportsOptions }),
      ],
      [TwoPools as never],
    ).compile();
    try {
      await module.init();
      const pools = module.get(TwoPools);
      expect(pools.main).not.toBe(pools.reports);
      expect((await pools.main.query('SELECT current_user AS u')).rows[0].u).toBe(a.role);
      expect((await pools.reports.query('SELECT current_user AS u')).rows[0].u).toBe(b.role);
      expect(module.get(getEntraCredentialToken('reports'))).toBe(b);
      expect(logs.lines.some((l) => l.context === 'EntraPg:reports')).toBe(true);
    } finally {
      await module.close();
      await a.close();
      await b.close();
    }
  });

  it('supports useExisting with an options factory exported by another module', async () => {
    const authority = await newRole(db, 60_000);
    @Injectable()
    class DbConfig implements EntraPgOptionsFactory {
      createEntraPgOptions(): EntraPgModuleOptions {
        return { host: db.host, port: db.port, credential: authority, retryAttempts: 0 };
      }
    }
    @Module({ providers: [DbConfig], exports: [DbConfig] })
    class DbConfigModule {}
    await expectLoginAs(await compile([EntraPgModule.forRootAsync({ imports: [DbConfigModule], useExisting: DbConfig })]).compile(), authority);
  });

  it('reads the credential from ENTRA_CREDENTIAL, so tests override it with overrideProvider', async () => {
    const authority = await newRole(db, 60_000);
    const unused = { getToken: () => Promise.reject(new Error('the configured credential must not be used')) };
    const module = await compile([
      EntraPgModule.forRoot({ host: db.host, port: db.port, credential: unused, retryAttempts: 0 }),
    ])
      .overrideProvider(ENTRA_CREDENTIAL)
      .useValue(authority)
      .compile();
    await expectLoginAs(module, authority);
  });

  it('reads the secret source from PG_SECRET_SOURCE, so tests replace an AWS or vault source with overrideProvider', async () => {
    await db.createRole('overridden_source');
    await db.adminPool.query("ALTER ROLE overridden_source PASSWORD 'local-pw'");
    const production = new CallbackSource(() => Promise.reject(new Error('the configured source must not be used')), { label: 'vault secret' });
    const module = await compile([EntraPgModule.forRoot({ host: db.host, port: db.port, source: production, retryAttempts: 0 })])
      .overrideProvider(PG_SECRET_SOURCE)
      .useValue(new StaticPasswordSource('local-pw', 'overridden_source'))
      .compile();
    try {
      const pool = module.get<pg.Pool>(PG_POOL);
      expect((await pool.query('SELECT current_user AS u')).rows[0].u).toBe('overridden_source');
      // The source in use decides: a fixed password is read once, never polled like the vault it replaced.
      expect(module.get(getEntraPgConnectionToken()).status()).toMatchObject({ label: 'static password', nextRefreshAt: undefined });
    } finally {
      await module.close();
    }
  });

  it('lets a test replace a TLS-only source (RDS IAM) on PG_SECRET_SOURCE and boot against a local server without TLS', async () => {
    await db.createRole('replaced_tls_source');
    await db.adminPool.query("ALTER ROLE replaced_tls_source PASSWORD 'local-pw'");
    const production = new CallbackSource(() => Promise.reject(new Error('the configured source must not be used')), { label: 'RDS IAM token' });
    Object.defineProperty(production, 'requiresTls', { value: true });
    const module = await compile([EntraPgModule.forRoot({ host: db.host, port: db.port, source: production, retryAttempts: 0 })])
      .overrideProvider(PG_SECRET_SOURCE)
      .useValue(new StaticPasswordSource('local-pw', 'replaced_tls_source'))
      .compile();
    try {
      expect((await module.get<pg.Pool>(PG_POOL).query('SELECT current_user AS u')).rows[0].u).toBe('replaced_tls_source');
    } finally {
      await module.close();
    }
  });

  it('checks the source PG_SECRET_SOURCE was overridden with as it checks the `source` option (shape, TLS)', async () => {
    const options = { host: db.host, port: db.port, password: 'unused', user: 'u', retryAttempts: 0 };
    const needsTls = new CallbackSource(() => Promise.reject(new Error('must not be asked')), { label: 'RDS IAM token' });
    Object.defineProperty(needsTls, 'requiresTls', { value: true });
    const tlsError = await bootError(compile([EntraPgModule.forRoot(options)]).overrideProvider(PG_SECRET_SOURCE).useValue(needsTls));
    expect(tlsError).toBeInstanceOf(EntraPgConfigError);
    expect((tlsError as Error).message).toMatch(/RDS IAM tokens are accepted only over TLS, and ssl is off for 127\.0\.0\.1 \(a loopback address: TLS is off unless asked for\); pass ssl: \{ ca \}/);
    const shapeError = await bootError(compile([EntraPgModule.forRoot(options)]).overrideProvider(PG_SECRET_SOURCE).useValue({ fetch: async () => ({ password: 'p' }) }));
    expect(shapeError).toBeInstanceOf(EntraPgConfigError);
    expect((shapeError as Error).message).toMatch(/PG_SECRET_SOURCE must implement PgSecretSource: a non-empty `label`/);
  });

  it('uses no managed-identity probe by default outside production (developer chain only)', async () => {
    const previous = process.env.NODE_ENV;
    process.env.NODE_ENV = 'development';
    try {
      const module = await compile([EntraPgModule.forRoot({ host: db.host, port: db.port, lazyConnect: true })]).compile();
      const credential = module.get(ENTRA_CREDENTIAL);
      expect(credential.constructor.name).toBe('ChainedTokenCredential');
      const names = (credential as { _sources: object[] })._sources.map((s) => s.constructor.name);
      expect(names).toEqual(['AzureCliCredential', 'AzureDeveloperCliCredential', 'EnvironmentCredential']);
      await module.close();
      process.env.NODE_ENV = 'production';
      const prod = await compile([EntraPgModule.forRoot({ host: db.host, port: db.port, lazyConnect: true })]).compile();
      expect(prod.get(ENTRA_CREDENTIAL).constructor.name).toBe('ManagedIdentityCredential');
      await prod.close();
    } finally {
      process.env.NODE_ENV = previous;
    }
  });

  it('refuses two registrations with the same connection name at bootstrap, naming it', async () => {
    const error = await bootError(
      compile([
        EntraPgModule.forRoot({ host: db.host, port: db.port, password: 'x', user: 'u', lazyConnect: true, name: 'orders' }),
        EntraPgModule.forRootAsync({ name: 'orders', useFactory: () => ({ host: db.host, password: 'y', user: 'v', lazyConnect: true }) }),
      ]),
    );
    expect(error).toBeInstanceOf(EntraPgConfigError);
    expect((error as Error).message).toMatch(/EntraPgModule "orders" is registered 2 times; give each forRoot\(\)\/forRootAsync\(\) its own `name`/);
  });

  it('lazyConnect skips the start-up token and check', async () => {
    const authority = await newRole(db, 60_000);
    const module = await compile([
      EntraPgModule.forRoot({ host: db.host, port: db.port, credential: authority, lazyConnect: true }),
    ]).compile();
    await module.init();
    expect(authority.requests).toBe(0);
    await module.close();
    await authority.close();
  });

  it('fails the boot with a clear error when the credentials are bad, after the configured retries', async () => {
    const authority = await newRole(db, 60_000);
    const wrongRole = { getToken: async () => authority.getToken().then((t) => ({ ...t })) };
    const error = await bootError(
      compile([
        EntraPgModule.forRoot({
          host: db.host,
          port: db.port,
          user: 'no_such_role',
          credential: wrongRole,
          retryAttempts: 2,
          retryDelay: 10,
        }),
      ]),
    );
    expect(error).toBeInstanceOf(EntraPgError);
    expect((error as Error).message).toMatch(
      /Could not connect to PostgreSQL at 127\.0\.0\.1:\d+\/postgres \(connection "default"\) after 3 attempt\(s\): .*no_such_role/,
    );
    expect(logs.matching(/Unable to connect .*attempt 2\/3/)).toHaveLength(1);
    logs.assertNoSecrets(authority.tokens);
    expect(await db.backends('no_such_role')).toBe(0);
    await authority.close();
  });

  describe('bad configuration fails at bootstrap with what to fix', () => {
    const cases: Array<[string, () => EntraPgModuleOptions, RegExp]> = [
      ['no host', () => ({ password: 'x', user: 'u' }), /no PostgreSQL host: set the `host` option, a connectionString, or PGHOST/],
      ['two secret sources', () => ({ host: 'h', password: 'x', source: new CallbackSource(async () => ({ password: 'p' })) }), /only one of credential, source, password; got source and password/],
      ['three secret sources', () => ({ host: 'h', password: 'x', credential: { getToken: async () => null }, source: new CallbackSource(async () => ({ password: 'p' })) }), /got credential and source and password/],
      ['0.1\'s credentials option', () => ({ host: 'h', credentials: { getCredentials: async () => ({ password: 'p' }) } }) as never, /`credentials` was replaced in 0\.2 by `source`.*CallbackSource/],
      ['a source without a label', () => ({ host: 'h', source: { fetch: async () => ({ password: 'p' }) } as never }), /source must implement PgSecretSource/],
      ['pool.max of 0', () => ({ host: 'h', password: 'x', user: 'u', pool: { max: 0 } }), /pool\.max must be a positive integer/],
      ['negative pool.max', () => ({ host: 'h', password: 'x', user: 'u', pool: { max: -3 } }), /pool\.max must be a positive integer/],
      ['pool.min above max', () => ({ host: 'h', password: 'x', user: 'u', pool: { max: 2, min: 5 } }), /pool\.min must be a non-negative integer of at most 2/],
      ['a credential without getToken', () => ({ host: 'h', credential: {} as never }), /credential must be a TokenCredential/],
      ['a static password without user', () => ({ host: 'h', password: 'hunter2-secret' }), /static password needs a user/],
      ['an empty scope', () => ({ host: 'h', scope: ' ', credential: { getToken: async () => null } }), /scope must be a non-empty string/],
      ['a bad port', () => ({ host: 'h', port: 70000, password: 'x', user: 'u' }), /Invalid port|port must be/],
    ];
    const previousHost = process.env.PGHOST;
    beforeAll(() => delete process.env.PGHOST);
    afterAll(() => {
      if (previousHost !== undefined) process.env.PGHOST = previousHost;
    });
    it.each(cases)('%s', async (_name, options, message) => {
      const error = await compile([EntraPgModule.forRoot({ ...options(), lazyConnect: true })])
        .compile()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EntraPgConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toMatch(/hunter2-secret/);
    });

    it('a token that is not a JWT when the user must come from it', async () => {
      const credential = { getToken: async () => ({ token: 'opaque-secret-value', expiresOnTimestamp: Date.now() + 60_000 }) };
      const error = await bootError(compile([EntraPgModule.forRoot({ host: db.host, port: db.port, credential, retryAttempts: 0 })]));
      expect((error as Error).message).toMatch(/access token is not a JWT.*Set the `user` option \(or PGUSER\)/);
      expect((error as Error).message).not.toMatch(/opaque-secret-value/);
    });

    it('a token with no user claim names the claims looked for', async () => {
      const token = createTestToken({ oid: 'x' }, new Date(Date.now() + 60_000));
      const credential = { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 60_000 }) };
      const error = await bootError(compile([EntraPgModule.forRoot({ host: db.host, port: db.port, credential, retryAttempts: 0 })]));
      expect((error as Error).message).toMatch(/none of the claims xms_mirid, upn, preferred_username, unique_name/);
    });

    it('forRootAsync without a factory', () => {
      expect(() => EntraPgModule.forRootAsync({})).toThrow(/needs useFactory, useClass or useExisting/);
    });
  });

  it('closes with app.close() leaving nothing that keeps the process alive', async () => {
    const authority = new LocalTokenAuthority({ admin: db.admin, role: (await newRole(db, 60_000)).role, lifetimeMs: 2_000 });
    type Handle = { constructor: { name: string }; remotePort?: number };
    const socketsToDb = () =>
      (process as unknown as { _getActiveHandles(): Handle[] })
        ._getActiveHandles()
        .filter((h) => h.constructor.name === 'Socket' && h.remotePort === db.port);
    const before = new Set(socketsToDb());
    const module = await compile([EntraPgModule.forRoot({ host: db.host, port: db.port, credential: authority })]).compile();
    const app = module.createNestApplication();
    await app.init();
    await app.get<pg.Pool>(PG_POOL).query('SELECT 1');
    await app.close();
    await authority.close();
    // Only the test's own admin connections remain; the refresh timer is unref'd and stopped.
    expect(socketsToDb().filter((s) => !before.has(s))).toHaveLength(0);
    expect(app.get(getEntraPgConnectionToken()).status().nextRefreshAt).toBeUndefined();
  });
});
