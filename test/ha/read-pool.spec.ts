import { Test } from '@nestjs/testing';
import type pg from 'pg';
import { EntraPgModule, getEntraPgConnectionToken, getPgPoolToken } from '../../lib/index.js';
import type { EntraPgConnection } from '../../lib/connection/entra-pg.connection.js';
import { LogCapture } from '../support/log-capture.js';
import { newRole, sleep, viaFront } from '../support/harness.js';
import { LocalEntraLogin } from '../../lib/testing/index.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';
import { steadyLoad } from '../support/steady-load.js';

/**
 * A writer and its read pool (`secretFrom`), as docs/high-availability.md shows them: one token
 * refresh feeds both, counted at the token authority.
 */
describe('a read pool sharing the writer secret (secretFrom)', () => {
  let db: TestPostgres;
  // Through the login front every unexpired token stays valid, as on Azure: two refreshers of one
  // identity (the control) do not invalidate each other's tokens, as they would with ALTER ROLE.
  let front: LocalEntraLogin;
  beforeAll(async () => {
    db = await startPostgres();
    front = await LocalEntraLogin.start({ admin: db.admin });
  });
  afterAll(async () => {
    await front.close();
    await db.stop();
  });
  beforeEach(() => {
    LogCapture.install();
  });

  const LIFETIME_MS = 2_000;

  async function boot(share: boolean, lifetimeMs = LIFETIME_MS) {
    const authority = await newRole(db, lifetimeMs, undefined, front);
    const target = { ...viaFront(front), database: 'postgres', retryAttempts: 0 };
    const module = await Test.createTestingModule({
      imports: [
        EntraPgModule.forRoot({ ...target, credential: authority }),
        share
          ? EntraPgModule.forRoot({ ...target, name: 'reader', secretFrom: 'default', targetSessionAttrs: 'prefer-standby' })
          : EntraPgModule.forRoot({ ...target, name: 'reader', credential: authority, targetSessionAttrs: 'prefer-standby' }),
      ],
    }).compile();
    await module.init();
    return {
      authority,
      module,
      writer: module.get<pg.Pool>(getPgPoolToken()),
      reader: module.get<pg.Pool>(getPgPoolToken('reader')),
      connections: [module.get<EntraPgConnection>(getEntraPgConnectionToken()), module.get<EntraPgConnection>(getEntraPgConnectionToken('reader'))],
    };
  }

  /** Both pools under load across three token lifetimes; how many tokens were asked for. */
  async function tokensAskedFor(share: boolean) {
    const app = await boot(share);
    try {
      const load = steadyLoad(() => Promise.all([app.writer.query('SELECT 1'), app.reader.query('SELECT 1')]), 2);
      await sleep(3 * LIFETIME_MS);
      await load.stop();
      return { requests: app.authority.requests, failed: load.outcomes.filter((o) => o.error).length, served: load.outcomes.length, shared: app.connections[0]!.refresher === app.connections[1]!.refresher };
    } finally {
      await app.module.close();
    }
  }

  it('one token refresh for the pair: about half the token requests of two separate refreshers, no failed query', async () => {
    const shared = await tokensAskedFor(true);
    const separate = await tokensAskedFor(false);
    process.stdout.write(`read pool: shared refresher ${shared.requests} token requests, separate ${separate.requests} (3 lifetimes of ${LIFETIME_MS} ms)\n`);
    expect(shared.shared).toBe(true);
    expect(separate.shared).toBe(false);
    expect(shared.failed).toBe(0);
    expect(shared.served).toBeGreaterThan(50);
    // A refresher asks at half the lifetime: about 2 per lifetime, plus the first at boot.
    expect(shared.requests).toBeLessThanOrEqual(3 * 2 + 2);
    expect(shared.requests * 1.5).toBeLessThanOrEqual(separate.requests);
  });

  it('the shared refresher runs until the last of the two connections shuts down', async () => {
    const app = await boot(true, 60_000);
    const [writer, reader] = app.connections;
    await writer!.onApplicationShutdown();
    expect(reader!.refresher.stopped).toBe(false);
    expect((await app.reader.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n).toBe(1);
    await reader!.onApplicationShutdown();
    expect(reader!.refresher.stopped).toBe(true);
    await app.module.close();
  });

  it('refuses a read pool that brings its own secret or another user', async () => {
    const authority = await newRole(db, 60_000);
    const target = { host: db.host, port: db.port, database: 'postgres', retryAttempts: 0 };
    for (const [extra, message] of [
      [{ password: 'x', user: authority.role }, /secretFrom: 'default' shares that connection's secret: give no credential, source or password here/],
      [{ user: 'someone_else' }, /secretFrom: 'default' logs in as that connection's user/],
    ] as const) {
      const compiling = Test.createTestingModule({
        imports: [EntraPgModule.forRoot({ ...target, credential: authority }), EntraPgModule.forRoot({ ...target, name: 'reader', secretFrom: 'default', ...extra })],
      }).compile();
      await expect(compiling).rejects.toThrow(message);
    }
  });
});
