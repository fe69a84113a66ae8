import { LogCapture } from '../support/log-capture.js';
import { bootPool, sleep, waitFor } from '../support/harness.js';
import type { EntraPgModuleOptions } from '../../lib/index.js';
import { onTestName, TestResolver, useFleet } from '../support/postgres-fleet.js';
import { steadyLoad } from '../support/steady-load.js';

describe('high availability: following a host name that moves', () => {
  const role = `ha_dns_${process.pid}`;
  const password = 'one-secret-for-every-host';
  const servers = useFleet(2, role, password);

  const a = '127.0.0.2';
  const b = '127.0.0.3';

  /** The pool on `db.test` (pointing at a), resolved by the test's resolver; load asks which server answers. */
  async function bootOnName(extra: EntraPgModuleOptions) {
    const resolver = new TestResolver();
    resolver.set('db.test', [a]);
    const app = await bootPool(servers[0]!, {
      ...onTestName(resolver.lookup, role, password),
      ...extra,
    });
    const load = steadyLoad(async () => (await app.pool.query<{ a: string }>('SELECT host(inet_server_addr()) AS a, pg_sleep(0.005)')).rows[0]!.a, 6);
    return { resolver, app, load };
  }

  it('the name moves while the old server stays up and writable: within one re-check period every connection is on the new address, no query fails', async () => {
    const { resolver, app, load } = await bootOnName({ dnsRecheckMs: 500, pool: { max: 4, idleTimeoutMillis: 60_000 } });
    try {
      await sleep(700);
      expect(load.outcomes.some((o) => o.value === a)).toBe(true);
      const movedAt = Date.now();
      resolver.set('db.test', [b]);
      // One period (500 ms, jittered earlier) plus the drain of the queries under way.
      await waitFor(async () => (await servers[0]!.backends(role)) === 0, 1_500);
      const settledAt = Date.now();
      await sleep(300);
      await load.stop();
      const failed = load.outcomes.filter((o) => o.error);
      const late = load.outcomes.filter((o) => o.startedAt > settledAt);
      process.stdout.write(
        `dns move, old server up: ${load.outcomes.length} queries, ${failed.length} failed, every connection on ${b} ${settledAt - movedAt} ms after the move\n`,
      );
      expect(failed).toEqual([]);
      expect(late.length).toBeGreaterThan(0);
      expect(late.every((o) => o.value === b)).toBe(true);
      expect(LogCapture.current!.matching(/db\.test moved from 127\.0\.0\.2 to 127\.0\.0\.3/)).toHaveLength(1);
    } finally {
      await load.stop();
      await app.close();
    }
  });

  it('failover: the name moves and the old server stops: only queries in flight fail, new queries land on the new server within 1 s', async () => {
    // A long period: what moves the pool here is the failed connections, not the timer.
    const { resolver, app, load } = await bootOnName({
      dnsRecheckMs: 60_000,
      pool: { max: 4, idleTimeoutMillis: 60_000, connectionTimeoutMillis: 10_000 },
    });
    try {
      await sleep(700);
      resolver.set('db.test', [b]);
      const inFlightAtStop = load.inFlight();
      const stopAt = Date.now();
      await servers[0]!.halt();
      const haltedAt = Date.now();
      await sleep(1_500);
      await load.stop();
      const failed = load.outcomes.filter((o) => o.error);
      const after = load.outcomes.filter((o) => o.startedAt >= stopAt + 1_000);
      const firstOnB = load.outcomes.find((o) => o.value === b);
      process.stdout.write(
        `failover: ${failed.length} failed (in flight at stop: ${inFlightAtStop}), first query answered by ${b} started ` +
          `${firstOnB ? firstOnB.startedAt - stopAt : 'never'} ms after the stop began\n`,
      );
      // Only queries sent before the server was gone fail: at most one per connection.
      expect(failed.length).toBeLessThanOrEqual(4);
      for (const o of failed) expect(o.startedAt).toBeLessThanOrEqual(haltedAt);
      expect(after.length).toBeGreaterThan(0);
      expect(after.every((o) => o.error === undefined && o.value === b)).toBe(true);
    } finally {
      await load.stop();
      await app.close();
      await servers[0]!.resume();
    }
  });
});
