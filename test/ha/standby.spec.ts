import { LogCapture } from '../support/log-capture.js';
import { bootPool, sleep, waitFor } from '../support/harness.js';
import type { TestPostgres } from '../support/postgres.js';
import { caughtUp, startPrimaryAndStandby } from '../support/standby.js';
import { whereWritesLand } from '../support/postgres-fleet.js';
import { steadyLoad } from '../support/steady-load.js';

describe('high availability: a real streaming standby', () => {
  let primary: TestPostgres | undefined;
  let standby: TestPostgres | undefined;
  const role = `ha_standby_${process.pid}`;
  const password = 'one-secret-for-every-host';
  beforeAll(async () => {
    ({ primary, standby } = await startPrimaryAndStandby());
    await primary.createRole(role);
    await primary.adminPool.query(`ALTER ROLE ${role} PASSWORD '${password}'`);
    await primary.adminPool.query('CREATE TABLE ha_standby_writes (n int)');
    await primary.adminPool.query(`GRANT ALL ON ha_standby_writes TO ${role}`);
    await caughtUp(primary, standby);
  }, 90_000);
  afterAll(async () => {
    await standby?.stop();
    await primary?.stop();
  });
  beforeEach(() => {
    LogCapture.install();
  });

  const serverOf = 'SELECT host(inet_server_addr()) AS a';

  it("host 'standby,primary' with read-write: every write lands on the primary from the first query", async () => {
    const app = await bootPool(primary!, {
      host: `${standby!.host},${primary!.host}`,
      targetSessionAttrs: 'read-write',
      user: role,
      password,
      pool: { max: 3 },
    });
    try {
      expect(await whereWritesLand(app.pool, 'ha_standby_writes', 12)).toEqual(new Set([primary!.host]));
      expect(await standby!.backends(role)).toBe(0);
    } finally {
      await app.close();
    }
  });

  it('prefer-standby: reads go to the standby, fall back to the primary while it is down, and new connections return to it when it is back', async () => {
    const app = await bootPool(primary!, {
      host: `${primary!.host},${standby!.host}`,
      targetSessionAttrs: 'prefer-standby',
      user: role,
      password,
      // Connections are recycled every second or so: new ones find the standby again.
      pool: { max: 3, maxLifetimeSeconds: 1, connectionTimeoutMillis: 10_000 },
    });
    const load = steadyLoad(async () => (await app.pool.query<{ a: string }>(serverOf)).rows[0]!.a, 3);
    try {
      await sleep(500);
      expect(load.outcomes.length).toBeGreaterThan(0);
      expect(load.outcomes.every((o) => o.value === standby!.host)).toBe(true);
      await standby!.halt();
      const haltedAt = Date.now();
      await sleep(1_000);
      const fallback = load.outcomes.filter((o) => o.startedAt > haltedAt);
      expect(fallback.length).toBeGreaterThan(0);
      expect(fallback.every((o) => o.value === primary!.host)).toBe(true);
      await standby!.resume();
      const backAt = Date.now();
      await waitFor(() => load.outcomes.some((o) => o.startedAt > backAt && o.value === standby!.host), 8_000);
      process.stdout.write(`prefer-standby: back on the standby ${Date.now() - backAt} ms after it was up again\n`);
      await load.stop();
      const failed = load.outcomes.filter((o) => o.error);
      // At most the queries under way on the standby when it stopped.
      expect(failed.length).toBeLessThanOrEqual(3);
      for (const o of failed) expect(o.startedAt).toBeLessThanOrEqual(haltedAt);
    } finally {
      await load.stop();
      await app.close();
    }
  });
});
