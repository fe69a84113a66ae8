import type { LookupFunction } from 'node:net';
import { LogCapture } from '../support/log-capture.js';
import { bootPool } from '../support/harness.js';
import { onTestName, useFleet } from '../support/postgres-fleet.js';

describe('a name that answers one of several servers per lookup (an RDS reader endpoint, DNS round robin)', () => {
  const role = `rv_rr_${process.pid}`;
  const password = 'one-secret-for-every-host';
  const servers = useFleet(2, role, password);

  it('does not rebuild the pool on every re-check: an address is gone only when two answers in a row leave it out', async () => {
    let turn = 0;
    // Each lookup answers one of the two replicas, in turn (both stay up, nothing moved).
    const lookup: LookupFunction = (_host, options, callback) => {
      const address = turn++ % 2 === 0 ? '127.0.0.2' : '127.0.0.3';
      const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true;
      process.nextTick(() =>
        all
          ? (callback as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address, family: 4 }])
          : (callback as (e: null, a: string, f: number) => void)(null, address, 4),
      );
    };
    const app = await bootPool(servers[0]!, {
      ...onTestName(lookup, role, password),
      dnsRecheckMs: 300,
      pool: { max: 4, idleTimeoutMillis: 60_000 },
    });
    try {
      const before = (app.pool as unknown as { rotations: number }).rotations;
      const until = Date.now() + 3_000;
      while (Date.now() < until) {
        await Promise.all([1, 2, 3, 4].map(() => app.pool.query('SELECT pg_sleep(0.01)')));
      }
      const rotations = (app.pool as unknown as { rotations: number }).rotations - before;
      process.stdout.write(`rotations in 3 s: ${rotations}; moved lines: ${LogCapture.current!.matching(/moved from/).length}\n`);
      expect(rotations).toBeLessThanOrEqual(1);
    } finally {
      await app.close();
    }
  });
});
