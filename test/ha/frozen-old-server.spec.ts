import { LogCapture } from '../support/log-capture.js';
import { bootPool, sleep, waitFor } from '../support/harness.js';
import { onTestName, TestResolver, useFleet } from '../support/postgres-fleet.js';

describe('the name moves away from a server that has frozen (its idle connections never answer the goodbye)', () => {
  const role = `rv_frozen_${process.pid}`;
  const password = 'one-secret-for-every-host';
  const servers = useFleet(2, role, password);

  it('idle connections on the frozen old server do not starve the new generation', async () => {
    const resolver = new TestResolver();
    resolver.set('db.test', ['127.0.0.2']);
    const app = await bootPool(servers[0]!, {
      ...onTestName(resolver.lookup, role, password),
      dnsRecheckMs: 300,
      pool: { max: 2, idleTimeoutMillis: 60_000, connectionTimeoutMillis: 4_000 },
    });
    let frozen: number[] = [];
    try {
      // Two idle connections on server a.
      await Promise.all([1, 2].map(() => app.pool.query('SELECT pg_sleep(0.05)')));
      const { rows } = await servers[0]!.adminPool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE usename = $1', [role]);
      frozen = rows.map((r) => r.pid);
      expect(frozen).toHaveLength(2);
      // Server a freezes (its backends stop answering; the kernel still holds their sockets) and the name moves to b.
      for (const pid of frozen) process.kill(pid, 'SIGSTOP');
      resolver.set('db.test', ['127.0.0.3']);
      await waitFor(async () => LogCapture.current!.matching(/moved from 127\.0\.0\.2/).length > 0, 3_000);
      const startedAt = Date.now();
      const result = await app.pool.query<{ a: string }>('SELECT host(inet_server_addr()) AS a').then(
        (r) => r.rows[0]!.a,
        (e: Error) => `failed after ${Date.now() - startedAt} ms: ${e.message}`,
      );
      expect(result).toBe('127.0.0.3');
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
      await sleep(200);
      await app.close();
    }
  });
});
