import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ENTRA_CREDENTIAL } from 'nestjs-entra-pg';
import { LocalTokenAuthority } from 'nestjs-entra-pg/testing';
import * as request from 'supertest';
import { AppModule } from './../src/app.module';

describe('AppModule (e2e) on nestjs-entra-pg', () => {
  let app: INestApplication;
  let authority: LocalTokenAuthority;

  beforeAll(async () => {
    const admin = JSON.parse(process.env.TEST_PG_ADMIN!);
    process.env.PGHOST = admin.host;
    process.env.PGPORT = String(admin.port);
    process.env.PG_MAX_LIFETIME_SECONDS = '1';
    // Tokens of 4 s: the app logs in again with fresh ones while the test runs.
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
