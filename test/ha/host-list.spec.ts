import { EntraPgUnreachableError } from '../../lib/index.js';
import { resolveOptions } from '../../lib/options/resolve-options.js';
import { LogCapture } from '../support/log-capture.js';
import { bootPool } from '../support/harness.js';
import { freePort, type TestPostgres } from '../support/postgres.js';
import { createRoleEverywhere, startFleet, whereWritesLand } from '../support/postgres-fleet.js';

describe('high availability: host lists and target_session_attrs', () => {
  let servers: TestPostgres[] = [];
  const role = `ha_hosts_${process.pid}`;
  const password = 'one-secret-for-every-host';
  beforeAll(async () => {
    // 127.0.0.2 accepts no writes (a read-only server, as a standby is), 127.0.0.3 does.
    servers = await startFleet(2);
    await createRoleEverywhere(servers, role, password);
    await servers[0]!.adminPool.query('ALTER SYSTEM SET default_transaction_read_only = on');
    await servers[0]!.adminPool.query('SELECT pg_reload_conf()');
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });
  beforeEach(() => {
    LogCapture.install();
  });

  it('parses libpq host lists: name:port entries, one port for all, PGPORT lists, PGTARGETSESSIONATTRS', () => {
    const base = { password: 'x', user: 'u' };
    expect(resolveOptions({ ...base, host: 'a:5433, b', port: 6000 }, 'default').pool.hosts).toEqual([
      { host: 'a', port: 5433 },
      { host: 'b', port: 6000 },
    ]);
    const env = { PGHOST: 'a,b', PGPORT: '5433,5434', PGTARGETSESSIONATTRS: 'prefer-standby' };
    const fromEnv = resolveOptions(base, 'default', env).pool;
    expect(fromEnv.hosts).toEqual([
      { host: 'a', port: 5433 },
      { host: 'b', port: 5434 },
    ]);
    expect(fromEnv.targetSessionAttrs).toBe('prefer-standby');
    expect(() => resolveOptions({ ...base, host: 'a,,b' }, 'default')).toThrow(/empty entry/);
    expect(() => resolveOptions({ ...base, host: 'a', targetSessionAttrs: 'master' }, 'default')).toThrow(/targetSessionAttrs .*read-write/);
    expect(() => resolveOptions(base, 'default', { PGHOST: 'a,b,c', PGPORT: '1,2' })).toThrow(/2 ports were given for 3 host/);
    expect(() => resolveOptions({ ...base, host: 'a', loadBalanceHosts: 'yes' }, 'default')).toThrow(/loadBalanceHosts must be 'disable' or 'random'/);
    expect(() => resolveOptions({ ...base, host: 'a', lookup: '8.8.8.8' }, 'default')).toThrow(/lookup must be a function/);
    expect(() => resolveOptions({ ...base, host: 'a', dnsRecheckMs: -1 }, 'default')).toThrow(/dnsRecheckMs must be a non-negative number/);
    const defaults = resolveOptions({ ...base, host: 'a' }, 'default').pool;
    expect([defaults.targetSessionAttrs, defaults.loadBalanceHosts, defaults.dnsRecheckMs]).toEqual(['any', 'disable', 30_000]);
  });

  it("host 'a,b' with read-write where a accepts no writes: every write lands on b from the first query", async () => {
    const [a, b] = servers;
    const app = await bootPool(a!, {
      host: `${a!.host},${b!.host}`,
      port: a!.port,
      targetSessionAttrs: 'read-write',
      user: role,
      password,
      pool: { max: 3 },
    });
    try {
      await app.pool.query('CREATE TABLE IF NOT EXISTS ha_writes (n int)');
      expect(await whereWritesLand(app.pool, 'ha_writes', 12)).toEqual(new Set([b!.host]));
      expect(await a!.backends(role)).toBe(0);
    } finally {
      await app.close();
    }
  });

  /** The first error of a read-write pool on `host` (callers give up after 1 s), and how long its close() took. */
  async function firstErrorOn(host: string, port: number): Promise<{ error: Error; closeMs: number }> {
    const app = await bootPool(servers[0]!, {
      host,
      port,
      targetSessionAttrs: 'read-write',
      user: role,
      password,
      lazyConnect: true,
      pool: { max: 2, connectionTimeoutMillis: 1_000 },
    });
    const error = (await app.pool.query('SELECT 1').catch((e: unknown) => e)) as Error;
    const closing = Date.now();
    await app.close();
    return { error, closeMs: Date.now() - closing };
  }

  it('all hosts down: one error naming each host with its own reason', async () => {
    const port = await freePort();
    const { error } = await firstErrorOn('127.0.0.4,127.0.0.5', port);
    expect(error).toBeInstanceOf(EntraPgUnreachableError);
    expect(error.message).toMatch(new RegExp(`127\\.0\\.0\\.4:${port} \\([^)]*ECONNREFUSED`));
    expect(error.message).toMatch(new RegExp(`127\\.0\\.0\\.5:${port} \\([^)]*ECONNREFUSED`));
  });

  it('no host fits (read-write, every host read-only): the caller waits out its timeout with paced logins, then one error names each host as read-only', async () => {
    const [a] = servers;
    const { error, closeMs } = await firstErrorOn(`${a!.host},${a!.host}`, a!.port);
    expect(error).toBeInstanceOf(EntraPgUnreachableError);
    expect(error.message.match(/127\.0\.0\.2:\d+ \(is a read-only primary \(target_session_attrs=read-write\)\)/g)).toHaveLength(2);
    expect(error.message).toMatch(/Last error: Error: no host fits target_session_attrs=read-write\. /);
    // Bounded: a login that never opened a socket must not hold shutdown for its grace period.
    expect(closeMs).toBeLessThan(5_000);
  });
});
