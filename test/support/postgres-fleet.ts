import type { EntraPgModuleOptions } from '../../lib/index.js';
import { LogCapture } from './log-capture.js';
import type { LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import pg from 'pg';
import { freePort, startPostgres, type TestPostgres } from './postgres.js';

/**
 * Several embedded PostgreSQL servers at once, on 127.0.0.2, 127.0.0.3, … with the SAME port, each
 * with its own data directory and listen_addresses: what several hosts behind one name look like.
 */
export async function startFleet(count: number, settings: Array<Record<string, string>> = []): Promise<TestPostgres[]> {
  const port = await freePort();
  const servers: TestPostgres[] = [];
  try {
    // One after the other: initdb on 2 shared cores is slow enough without contention.
    // No Unix socket: servers sharing a port would fight over its lock file in /tmp.
    for (let i = 0; i < count; i += 1) {
      servers.push(await startPostgres({ host: `127.0.0.${i + 2}`, port, settings: { unix_socket_directories: '', ...settings[i] } }));
    }
  } catch (error) {
    await Promise.all(servers.map((server) => server.stop()));
    throw error;
  }
  return servers;
}

/** The same login role with the same password on every server: one secret serves every host. */
export async function createRoleEverywhere(servers: TestPostgres[], role: string, password: string): Promise<void> {
  for (const server of servers) {
    await server.createRole(role);
    await server.adminPool.query(`ALTER ROLE ${pg.escapeIdentifier(role)} PASSWORD ${pg.escapeLiteral(password)}`);
  }
}

/**
 * A name service for tests: maps host names (`db.test`) to the loopback addresses they point at
 * now, with dns.lookup's signature (both the one-address and the `all: true` forms). Names it does
 * not know fail with ENOTFOUND, as a real resolver would; nothing leaves the machine.
 */
export class TestResolver {
  private readonly names = new Map<string, string[]>();
  /** Lookups answered, by name. */
  readonly calls = new Map<string, number>();

  set(name: string, addresses: string[]): void {
    this.names.set(name, addresses);
  }

  readonly lookup: LookupFunction = (hostname, options, callback) => {
    const answer = this.names.get(hostname);
    this.calls.set(hostname, (this.calls.get(hostname) ?? 0) + 1);
    const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true;
    process.nextTick(() => {
      if (!answer || answer.length === 0) {
        const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
        return (callback as (error: Error) => void)(error);
      }
      if (all) {
        const list: LookupAddress[] = answer.map((address) => ({ address, family: 4 }));
        return (callback as (error: null, addresses: LookupAddress[]) => void)(null, list);
      }
      (callback as (error: null, address: string, family: number) => void)(null, answer[0]!, 4);
    });
  };
}

/** Runs `count` concurrent INSERTs into `table` and returns the set of server addresses they landed on. */
export async function whereWritesLand(pool: pg.Pool, table: string, count: number): Promise<Set<string>> {
  const landed = await Promise.all(
    Array.from({ length: count }, (_, n) =>
      pool
        .query<{ a: string }>(`INSERT INTO ${pg.escapeIdentifier(table)} VALUES ($1) RETURNING host(inet_server_addr()) AS a`, [n])
        .then((result) => result.rows[0]!.a),
    ),
  );
  return new Set(landed);
}

/**
 * The suite setup every fleet spec shares: `count` servers started before the suite (the returned
 * array fills then), `role` with `password` on each, stopped after it; logs captured per test.
 */
export function useFleet(count: number, role: string, password: string): TestPostgres[] {
  const servers: TestPostgres[] = [];
  beforeAll(async () => {
    servers.push(...(await startFleet(count)));
    await createRoleEverywhere(servers, role, password);
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });
  beforeEach(() => {
    LogCapture.install();
  });
  return servers;
}

/**
 * PG_POOL's options for the test host name `db.test`, resolved by `lookup`, as `role`. A name is
 * not loopback, so TLS would be required by default; these servers have none.
 */
export function onTestName(lookup: LookupFunction, role: string, password: string): EntraPgModuleOptions {
  return { host: 'db.test', lookup, ssl: false, allowInsecureTransport: true, user: role, password };
}
