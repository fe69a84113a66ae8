import type { Logger } from '@nestjs/common';
import type { LookupFunction } from 'node:net';
import type pg from 'pg';
import { EntraPgShutdownError } from '../entra-pg.errors.js';
import type { EntraPgConsumerEnd, EntraPgPgOptions } from '../interfaces/entra-pg-options.interface.js';
import type { PgSsl } from '../options/tls-policy.js';
import type { HostEntry, LoadBalanceHosts, TargetSessionAttrs } from './server-selection.js';
import type { CredentialRefresher } from '../refresh/credential-refresher.js';

// The pieces the pool's files share: what each needs of the others (dependencies, the host, the
// probe, a generation), the resolved config, the callback of a waiting caller, and the two small
// helpers every file that waits or ends uses (PoolChanges, shutdownError). Imports nothing else of
// lib/pool but the host-list types of server-selection.ts, so no file of the pool imports another in a cycle.

export interface EntraPgPoolDependencies {
  config: ResolvedPoolConfig;
  refresher: CredentialRefresher;
  connectionName: string;
  logger: Logger;
  /** How long shutdown waits for checked-out clients. */
  drainTimeoutMs: number;
  /** What a consumer's `end()` does while the app runs. */
  consumerEnd: EntraPgConsumerEnd;
}

/**
 * What the pool's collaborators see of the EntraPgPool they work for: whether it is ending (shutdown
 * sets `ending` and `ended` on it), the metrics probe (set later by lib/metrics, so read on each
 * use) and the emitter its events go out on.
 */
export interface EntraPgPoolHost {
  readonly ending: boolean;
  readonly ended: boolean;
  readonly probe: EntraPgPoolProbe | undefined;
  emit(event: string, ...args: unknown[]): boolean;
  listenerCount(event: string): number;
}

/**
 * What the pool tells an instrumentation (lib/metrics) about, at the few points no pg-pool event
 * covers. Absent unless a MeterProvider is registered: the query path then pays one property read.
 */
export interface EntraPgPoolProbe {
  /** A caller asks for a client; returns the callback to answer it with (timing the wait). */
  acquiring(callback: AcquireCallback): AcquireCallback;
  /** A new connection starts to open; returns the callback its connect() answers (timing the login). */
  creating(callback: (error: Error) => void): (error: Error) => void;
  /** A refused login is retried with a freshly fetched secret. */
  loginRetried(): void;
}

/** One pg.Pool and the identity it logs in as; retired generations drain and never log in again. */
export interface Generation {
  pool: pg.Pool;
  user: string | undefined;
  retired: boolean;
  /** Its connections from the moment their socket opens (logging in included) until it closes. */
  sockets: Set<pg.Client>;
  /** Retired and its pg.Pool has ended; it is forgotten once its last socket has closed too. */
  ended: boolean;
  /** One of its connections heard the server turn read-only (logged once per generation). */
  readOnlyHeard: boolean;
}

/** Raised inside a retired generation's login, so the caller is sent to the active generation instead. */
export class RetiredGenerationError extends Error {
  constructor() {
    super('this pool generation has retired');
  }
}

/** Where to connect and how: the pool's part of the resolved options (lib/options/resolve-options.ts). */
export interface ResolvedPoolConfig {
  host: string;
  port: number;
  database: string;
  /** The explicit role; undefined when it comes from the token or the secret source. */
  user: string | undefined;
  /** Always explicit (never undefined), so pg does not read PGSSLMODE with its own, weaker rules. */
  ssl: PgSsl;
  max: number;
  min: number;
  idleTimeoutMillis: number;
  connectionTimeoutMillis: number;
  maxLifetimeSeconds: number;
  applicationName: string | undefined;
  /** Passed through to every generation's pg.Pool. */
  pg: EntraPgPgOptions;
  /** Name resolution for every connection's socket and for the DNS watch; undefined means dns.lookup. */
  lookup: LookupFunction | undefined;
  /** How often the host name is resolved again to follow a move; 0 only after connection errors. */
  dnsRecheckMs: number;
  /** Every host of the list (`host` and `port` are the first); one entry without a list. */
  hosts: HostEntry[];
  targetSessionAttrs: TargetSessionAttrs;
  loadBalanceHosts: LoadBalanceHosts;
}

/** How a waiting caller is answered: a client, or an error. */
export type AcquireCallback = (error: Error | undefined, client?: pg.PoolClient) => void;

/** What every caller gets once shutdown has begun; it opens with pg-pool's words, which some code matches. */
export function shutdownError(connectionName: string): EntraPgShutdownError {
  return new EntraPgShutdownError(
    `Cannot use a pool after calling end on the pool: PostgreSQL pool "${connectionName}" is shutting down; it takes no new work.`,
    connectionName,
  );
}

/**
 * Lets shutdown wait for the pool to reach a state (all clients released, all sockets closed):
 * releases and closed sockets call `changed()`, and each waiter checks its condition then.
 */
export class PoolChanges {
  private readonly listeners = new Set<() => void>();

  /** Resolves true once `condition` holds, false if `timeoutMs` passes first. */
  waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    if (condition()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!condition()) return;
        finish(true);
      };
      const finish = (result: boolean) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(result);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.listeners.add(check);
    });
  }

  changed(): void {
    // Runs on every release; only shutdown registers listeners, so the common case allocates nothing.
    if (this.listeners.size === 0) return;
    for (const listener of [...this.listeners]) listener();
  }
}
