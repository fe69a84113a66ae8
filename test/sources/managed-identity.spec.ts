import { ManagedIdentityCredential } from '@azure/identity';
import type pg from 'pg';
import { LocalEntraLogin, type LocalTokenAuthority, ManagedIdentityEmulator } from '../../lib/testing/index.js';
import { LogCapture } from '../support/log-capture.js';
import { bootPool, load, viaFront } from '../support/harness.js';
import { startPostgres, type TestPostgres } from '../support/postgres.js';

const MI_PATH = '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/';

describe('the real ManagedIdentityCredential over the emulated App Service endpoint', () => {
  let db: TestPostgres;
  let authority: LocalTokenAuthority;
  // Every unexpired token logs in, as on Azure: a refresh never races a login.
  let front: LocalEntraLogin;
  let emulator: ManagedIdentityEmulator;
  const saved = { IDENTITY_ENDPOINT: process.env.IDENTITY_ENDPOINT, IDENTITY_HEADER: process.env.IDENTITY_HEADER };

  beforeAll(async () => {
    db = await startPostgres();
    const role = 'orders-api-identity';
    await db.createRole(role);
    front = await LocalEntraLogin.start({ admin: db.admin });
    authority = front.authority({
      role,
      lifetimeMs: 3_000,
      claims: { xms_mirid: `${MI_PATH}${role}`, oid: '1111' },
    });
    emulator = await ManagedIdentityEmulator.start({ authority });
    Object.assign(process.env, emulator.env());
  });
  afterAll(async () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await emulator.close();
    await authority.close();
    await front.close();
    await db.stop();
  });

  it('logs in as the user-assigned identity named in xms_mirid and refreshes across token lifetimes', async () => {
    const logs = LogCapture.install();
    const credential = new ManagedIdentityCredential();
    const app = await bootPool(db, { ...viaFront(front), credential, pool: { max: 4 } });
    try {
      const whoami = await app.pool.query<{ u: string }>('SELECT current_user AS u');
      expect(whoami.rows[0]!.u).toBe('orders-api-identity');
      expect(logs.matching(/Logging in as "orders-api-identity" \(from the token's xms_mirid claim\)/)).toHaveLength(1);
      const stats = await load(4_000, 4, () => (app.pool as pg.Pool).query('SELECT 1'));
      expect(stats.failed).toBe(0);
      // Every token came through the HTTP endpoint; about one per half-lifetime.
      expect(emulator.served).toBe(authority.issued);
      expect(emulator.served).toBeGreaterThanOrEqual(3);
      expect(emulator.served).toBeLessThanOrEqual(6);
      expect(emulator.rejected).toBe(0);
    } finally {
      await app.close();
    }
    logs.assertNoSecrets(authority.tokens);
  });
});
