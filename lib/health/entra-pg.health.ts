import { loadOptionalPeer } from '../common/optional-peer.js';
import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type pg from 'pg';
import { getEntraPgConnectionToken } from '../common/entra-pg.utils.js';
import { DEFAULT_CONNECTION_NAME } from '../entra-pg.constants.js';
import { EntraPgConfigError, describeCause } from '../entra-pg.errors.js';
import { reachabilityOf } from '../pool/connect-retry.js';
import { MAX_TIMER_MS } from '../refresh/refresh-schedule.js';
import type { EntraPgConnection, EntraPgConnectionStatus } from '../connection/entra-pg.connection.js';
import type { EntraPgHealthCheckOptions, EntraPgHealthDetails, EntraPgHealthResult } from './entra-pg-health.interface.js';

type TerminusApi = typeof import('@nestjs/terminus');

/** The details of a check whose connection does not exist: nothing known. */
const NO_CONNECTION: EntraPgHealthDetails = {
  source: null,
  tokenExpiresInSeconds: null,
  tokenRefreshedAt: null,
  nextRefreshInSeconds: null,
  refreshFailures: 0,
  lastError: null,
  user: null,
  pool: { total: 0, idle: 0, waiting: 0, max: 0 },
  rotations: 0,
};
type HealthSession = ReturnType<InstanceType<TerminusApi['HealthIndicatorService']>['check']>;

/**
 * Terminus readiness indicator for an EntraPgModule connection: pings with `SELECT 1` under a
 * timeout and reports the token's time to expiry, the refresh streak and the pool's state.
 *
 * Down when the ping fails or times out, or when the token has expired and cannot be refreshed.
 * Up while a refresh is failing but the token is still valid, so one slow identity endpoint does
 * not take every replica out of rotation at once. Use it for readiness, never for liveness.
 */
@Injectable()
export class EntraPgHealthIndicator {
  private terminus: Promise<TerminusApi> | undefined;
  private readonly pings = new WeakMap<EntraPgConnection, Ping>();

  constructor(private readonly moduleRef: ModuleRef) {}

  async isHealthy<const Key extends string = 'database'>(
    key: Key = 'database' as Key,
    options: EntraPgHealthCheckOptions | null = {},
  ): Promise<EntraPgHealthResult<Key>> {
    options ??= {};
    const name = options.connection ?? DEFAULT_CONNECTION_NAME;
    const session = await this.session(key, name);
    const connection = this.connection(name);
    if (!connection) {
      // A misspelt connection name is a failed check (503), not a crash of the health endpoint (500).
      const message = `No EntraPgModule connection named "${name}" is registered.`;
      return session.down({ ...NO_CONNECTION, message }) as unknown as EntraPgHealthResult<Key>;
    }
    // A deadline above 2^31-1 ms would fire after 1 ms; NaN or a negative one is no deadline at all.
    const requested = options.timeoutMs;
    const timeoutMs = typeof requested === 'number' && requested > 0 ? Math.min(requested, MAX_TIMER_MS) : 1000;
    const problem = await this.problem(connection, timeoutMs);
    const details = toDetails(connection.status());
    const result = problem ? session.down({ ...details, message: problem }) : session.up({ ...details });
    return result as unknown as EntraPgHealthResult<Key>;
  }

  /** Why the connection is not ready, or undefined when it is. */
  private async problem(connection: EntraPgConnection, timeoutMs: number): Promise<string | undefined> {
    const before = connection.status();
    const now = Date.now();
    if (before.expiresAt !== undefined && before.expiresAt <= now) {
      if (before.refreshFailures > 0) {
        return `The ${before.label} expired and refreshing it has failed ${before.refreshFailures} time(s): ${before.lastError}`;
      }
      if (before.refreshingSince !== undefined) {
        const waited = Math.round((now - before.refreshingSince) / 1000);
        return `The ${before.label} expired and the refresh under way has not answered for ${waited} s`;
      }
    }
    try {
      // During an outage this ping's login is what finds the server back when nothing else runs.
      await this.ping(connection, timeoutMs);
      return undefined;
    } catch (error) {
      // While logins fail for a reason that passes, say so with the last login error rather than
      // "did not answer": callers are riding through the outage.
      const reach = reachabilityOf(connection.pool);
      if (reach?.downSince === undefined) return describeCause(error);
      const since = Math.round((Date.now() - reach.downSince) / 1000);
      return (
        `The database is unreachable: no login has succeeded for ${since} s (${reach.attemptsWhileDown} attempt(s) since); ` +
        `last error: ${reach.lastError ?? 'unknown'}`
      );
    }
  }

  /**
   * One `SELECT 1` per connection at a time: probes that arrive while one is under way, or still
   * queued for a client after its deadline, share its outcome, so a saturated pool never collects
   * a queue of pings.
   */
  private ping(connection: EntraPgConnection, timeoutMs: number): Promise<void> {
    let ping = this.pings.get(connection);
    if (!ping) {
      const started = startPing(connection.pool, timeoutMs);
      this.pings.set(connection, started);
      void started.gone.then(() => {
        if (this.pings.get(connection) === started) this.pings.delete(connection);
      });
      ping = started;
    }
    return withDeadline(ping.result, timeoutMs);
  }

  private connection(name: string): EntraPgConnection | undefined {
    try {
      return this.moduleRef.get<EntraPgConnection>(getEntraPgConnectionToken(name), { strict: false });
    } catch {
      return undefined;
    }
  }

  private async session(key: string, connectionName: string): Promise<HealthSession> {
    this.terminus ??= loadTerminus(connectionName);
    const { HealthIndicatorService } = await this.terminus;
    let service: InstanceType<TerminusApi['HealthIndicatorService']>;
    try {
      service = this.moduleRef.get(HealthIndicatorService, { strict: false });
    } catch {
      // The app's health controller may not import TerminusModule where this module can see it.
      service = new HealthIndicatorService();
    }
    return service.check(key);
  }
}

interface Ping {
  /** Settles with the ping's outcome, or rejects at its deadline. */
  result: Promise<void>;
  /** Resolves when the ping no longer holds or waits for a pool slot. */
  gone: Promise<void>;
}

/** @nestjs/terminus is an optional peer, loaded on first use rather than detected at boot. */
function loadTerminus(connectionName: string): Promise<TerminusApi> {
  return loadOptionalPeer(
    () => import('@nestjs/terminus'),
    (cause) =>
      new EntraPgConfigError(
        'EntraPgHealthIndicator needs @nestjs/terminus, which could not be loaded. Install it (npm i @nestjs/terminus) ' +
          'and import TerminusModule in the module of your health controller.',
        connectionName,
        { cause },
      ),
  );
}

/**
 * `SELECT 1` on a client of its own, under a deadline. On timeout the client is destroyed rather
 * than returned, and a client that arrives after the deadline goes straight back, so a hung ping
 * never keeps a pool slot.
 */
function startPing(pool: pg.Pool, timeoutMs: number): Ping {
  let expired = false;
  let client: pg.PoolClient | undefined;
  let released = false;
  const release = (error?: Error) => {
    if (!client || released) return;
    released = true;
    client.release(error);
  };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      const error = new Error(`SELECT 1 did not answer within ${timeoutMs} ms`);
      release(error);
      reject(error);
    }, timeoutMs);
  });
  const attempt = (async () => {
    client = await pool.connect();
    if (expired) return release();
    try {
      await client.query('SELECT 1');
      release();
    } catch (error) {
      release(error as Error);
      throw error;
    }
  })();
  const result = Promise.race([attempt, deadline]).finally(() => clearTimeout(timer));
  // Whichever loses the race must not go unhandled.
  result.catch(() => undefined);
  return { result, gone: attempt.then(noop, noop) };
}

function noop(): void {}

function withDeadline(attempt: Promise<void>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`SELECT 1 did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([attempt, deadline]).finally(() => clearTimeout(timer));
}

function toDetails(status: EntraPgConnectionStatus): EntraPgHealthDetails {
  const now = Date.now();
  const secondsUntil = (at: number | undefined) => (at === undefined ? null : Math.max(0, Math.round((at - now) / 1000)));
  return {
    source: status.label,
    tokenExpiresInSeconds: secondsUntil(status.expiresAt),
    tokenRefreshedAt: status.refreshedAt === undefined ? null : new Date(status.refreshedAt).toISOString(),
    nextRefreshInSeconds: secondsUntil(status.nextRefreshAt),
    refreshFailures: status.refreshFailures,
    lastError: status.lastError ?? null,
    user: status.user ?? null,
    pool: status.pool,
    rotations: status.rotations,
  };
}
